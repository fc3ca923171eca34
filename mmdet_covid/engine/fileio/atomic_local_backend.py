"""An mmengine file backend that writes checkpoints atomically."""
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

from ...io.atomic_write import atomic_write_bytes


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """:class:`LocalBackend` that writes to a temporary file and renames it.

    A run killed while saving leaves either the previous file or the new one,
    never a truncated checkpoint (:func:`~mmdet_covid.io.atomic_write.atomic_write_bytes`).
    Select it for checkpoints with
    ``default_hooks.checkpoint.backend_args = dict(backend='atomic_local')``.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write_bytes(obj, filepath)
