"""Let ``torch.load(weights_only=True)`` read mmengine's own checkpoints.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True`` and refuses any
pickled global it does not know. mmengine 0.10.7 calls ``torch.load`` without the
argument and stores a few non-tensor objects in every checkpoint (the message
hub's ``HistoryBuffer`` with its numpy arrays, numpy scalars in the runtime
info), so ``resume=True`` breaks. Instead of switching the safety off we
allow-list exactly those types: any other pickled object is still refused.
"""
from typing import List

import numpy as np
import torch


def _numpy_globals() -> List[object]:
    """The numpy callables and classes that pickled arrays/scalars reference."""
    try:  # numpy >= 2 moved the C core to numpy._core
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [type(np.dtype(t)) for t in (
        np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
        np.uint8, np.uint16, np.uint32, np.uint64, np.bool_)]
    return [_reconstruct, scalar, np.ndarray, np.dtype, *dtype_classes]


def allow_mmengine_checkpoint_types() -> List[object]:
    """Add mmengine's checkpoint types to torch's ``weights_only`` allow-list.

    Idempotent and cheap: safe to call on every import of the package.

    Returns:
        list: The globals that were allow-listed.
    """
    from mmengine.logging import HistoryBuffer

    # `getattr`: a HistoryBuffer pickles its statistics methods as bound
    # methods, i.e. getattr(buffer, 'mean'). Looking an attribute up is
    # harmless here: calling anything that is not allow-listed stays refused.
    allowed = [HistoryBuffer, getattr, *_numpy_globals()]
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:  # torch < 2.4 has no weights_only default
        add_safe_globals(allowed)
    return allowed


def check_checkpoint_file(path: str) -> None:
    """Fail with a clear message if ``path`` is not a readable checkpoint.

    Only local files are checked; torch writes checkpoints as zip archives,
    so a truncated or corrupt file has no readable zip directory.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it is not a PyTorch (zip) checkpoint.
    """
    import os.path as osp
    import zipfile

    if '://' in path:
        return
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} does not exist')
    if not zipfile.is_zipfile(path):
        raise ValueError(f'checkpoint {path!r} is not a PyTorch checkpoint '
                         f'(no zip directory: truncated or corrupt?)')
