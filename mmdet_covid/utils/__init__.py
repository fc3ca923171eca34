from .checkpoint_safety import allow_mmengine_checkpoint_types

__all__ = ['allow_mmengine_checkpoint_types']
