from .checkpoint_safety import allow_mmengine_checkpoint_types, check_checkpoint_file

__all__ = ['allow_mmengine_checkpoint_types', 'check_checkpoint_file']
