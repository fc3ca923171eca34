from .atomic_local_backend import AtomicLocalBackend, atomic_write_json
from .output_folder import OutputFolderError, check_output_folder, staged_folder

__all__ = ['AtomicLocalBackend', 'atomic_write_json', 'OutputFolderError',
           'check_output_folder', 'staged_folder']
