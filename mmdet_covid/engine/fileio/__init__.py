from .atomic_local_backend import AtomicLocalBackend, atomic_write_json

__all__ = ['AtomicLocalBackend', 'atomic_write_json']
