from .checkpoint_match import (CheckpointMismatchError, check_checkpoint_matches,
                               compare_state_dicts)
from .checkpoint_safety import allow_mmengine_checkpoint_types, check_checkpoint_file
from .malloc_tuning import reuse_freed_memory
from .text_files import TextFileError, read_text_lines

__all__ = ['allow_mmengine_checkpoint_types', 'check_checkpoint_file',
           'CheckpointMismatchError', 'check_checkpoint_matches', 'compare_state_dicts',
           'TextFileError', 'read_text_lines', 'reuse_freed_memory']
