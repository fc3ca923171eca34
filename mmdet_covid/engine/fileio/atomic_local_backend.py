"""Atomic writes: a local file backend (for checkpoints) and a JSON writer (for the
files the data tools and reports write)."""
import json
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Any, Union

from mmengine.fileio import LocalBackend, register_backend


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """:class:`LocalBackend` that writes to a temporary file and renames it.

    A run killed while saving leaves either the previous file or the new one,
    never a truncated checkpoint. Select it for checkpoints with
    ``default_hooks.checkpoint.backend_args = dict(backend='atomic_local')``.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        filepath = str(filepath)
        directory = osp.dirname(filepath) or '.'
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix='.tmp-', suffix=osp.basename(filepath))
        try:
            # mkstemp creates 0600; give the file the mode open() would (0666 less umask)
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
            with os.fdopen(fd, 'wb') as f:
                f.write(obj)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, filepath)  # atomic on POSIX within one file system
        except BaseException:
            if osp.exists(tmp):
                os.remove(tmp)
            raise


def atomic_write_json(obj: Any, filepath: Union[str, Path], **dump_kwargs) -> None:
    """Write ``obj`` as strict JSON to ``filepath`` through a temporary file.

    A failed write (an object that cannot be serialised, a full disk, a kill) leaves
    the previous file as it was. ``NaN`` and infinities are refused (``allow_nan=False``):
    write ``None`` (JSON ``null``) for an undefined value.

    Args:
        obj: what to write.
        filepath: the file, its folder created if needed.
        dump_kwargs: passed to :func:`json.dumps` (for example ``indent=1``).
    """
    text = json.dumps(obj, allow_nan=False, **dump_kwargs)  # fails before touching the file
    AtomicLocalBackend().put(text.encode('utf-8'), filepath)
