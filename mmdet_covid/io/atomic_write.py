"""Atomic writes: a file is replaced whole or not at all.

The bytes go to a temporary file beside the target, which is renamed over it, so
that a run killed while writing leaves the previous file (or none), never a truncated
one. :func:`atomic_write_bytes` serves the checkpoint backend
(:class:`~mmdet_covid.engine.fileio.AtomicLocalBackend`), :func:`atomic_write_json` the
files that the data tools, metrics and reports write.
"""
import json
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Any, Union


def atomic_write_bytes(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` through a temporary file and a rename.

    Args:
        data: what to write.
        filepath: the file, its folder created if needed. It gets the mode a plain
            ``open()`` gives (0666 less the umask), not the temporary file's 0600.
    """
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
            f.write(data)
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
    atomic_write_bytes(text.encode('utf-8'), filepath)
