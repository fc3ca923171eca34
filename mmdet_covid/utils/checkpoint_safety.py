"""Let ``torch.load(weights_only=True)`` read mmengine's checkpoints, and nothing more.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``: its unpickler
only builds tensors, containers and the globals on an allow-list. mmengine
0.10.7 calls ``torch.load`` without the argument, and its checkpoints hold a
few objects beyond that list, in the message hub's state (measured with
``torch.serialization.get_unsafe_globals_in_checkpoint`` on checkpoints of
every config in ``configs/``): ``HistoryBuffer`` objects, numpy arrays and
scalars, and ``builtins.getattr`` (a ``HistoryBuffer`` pickles its class's
statistics methods as ``getattr(HistoryBuffer, 'mean')``).

Allow-listing those names as they are would open the checkpoint to code
execution: ``getattr`` reaches any attribute of any object (from there
``eval``), and ``HistoryBuffer.__setstate__`` writes whatever the file holds
into the class-wide table of statistics methods, which mmengine later calls.
So each name is bound to a narrow stand-in instead (torch's ``(object,
'module.name')`` form of :func:`torch.serialization.add_safe_globals`), and
every other global stays refused:

==============================================  ====================================
name in the checkpoint                          what it may build here
==============================================  ====================================
``builtins.getattr``                            only a statistics method already
                                                registered on ``HistoryBuffer``,
                                                looked up on ``HistoryBuffer``
``mmengine...history_buffer.HistoryBuffer``     a ``HistoryBuffer`` whose state is
                                                checked: an int ``max_length``, two
                                                numeric 1-D arrays of equal length
                                                and, in ``statistics_methods``, only
                                                methods already registered (which
                                                are then left as they are)
``numpy._core.multiarray._reconstruct``,       an empty plain ``numpy.ndarray``
``numpy.ndarray``                               (no subclass), filled by numpy's
                                                own ``__setstate__``
``numpy._core.multiarray.scalar``               a numpy scalar of a numeric or bool
                                                dtype from its raw bytes
``numpy.dtype``                                 a numeric or bool dtype; objects
                                                (``'O'``) and void/struct dtypes
                                                are refused
==============================================  ====================================

None of the stand-ins calls anything named by the file, reaches an
attribute by a name from the file beyond that fixed set, or lets the file
replace a ``__setstate__``.
"""
import pickle
from typing import Any, Dict, List

import numpy as np
import torch

try:  # numpy >= 2 moved the C core to numpy._core
    from numpy._core import multiarray as _multiarray
    _MULTIARRAY = 'numpy._core.multiarray'
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray
    _MULTIARRAY = 'numpy.core.multiarray'

# dtype kinds a checkpoint may hold: bool, signed/unsigned int, float, complex.
_NUMERIC_KINDS = frozenset('biufc')
_NUMERIC_TYPES = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                  np.uint32, np.uint64, np.float16, np.float32, np.float64, np.complex64,
                  np.complex128)
_HISTORY_BUFFER_KEYS = frozenset(
    ('max_length', '_log_history', '_count_history', 'statistics_methods'))


def _refuse(what: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(
        f'refusing to load a checkpoint that holds {what}: mmdet-covid only '
        f'allows the plain data that mmengine itself writes (see '
        f'mmdet_covid/utils/checkpoint_safety.py)')


def _check_dtype(dtype: np.dtype) -> np.dtype:
    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS:
        raise _refuse(f'a numpy array or scalar of dtype {dtype!r}')
    return dtype


def _safe_dtype(obj: Any, align: bool = False, copy: bool = False) -> np.dtype:
    """``numpy.dtype`` for numeric and bool type codes only."""
    if not isinstance(obj, str):
        raise _refuse(f'a numpy dtype built from {type(obj).__name__}')
    return _check_dtype(np.dtype(obj, align, copy))


class _NDArrayName:
    """What ``numpy.ndarray`` resolves to in a checkpoint: a marker that only
    :func:`_safe_reconstruct` accepts (the real class is never handed out, so
    a file cannot call it)."""

    def __repr__(self) -> str:
        return 'numpy.ndarray'


_NDARRAY = _NDArrayName()


def _safe_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """numpy's array unpickling helper, for plain ``ndarray`` only."""
    if subtype is not _NDARRAY:
        raise _refuse(f'an array of class {subtype!r}')
    if not isinstance(dtype, (bytes, str)):  # numpy passes b'b' as a placeholder
        _check_dtype(dtype)
    return _multiarray._reconstruct(np.ndarray, shape, dtype)


def _safe_scalar(dtype: Any, data: Any = None) -> Any:
    """numpy's scalar unpickling helper, for numeric and bool dtypes only."""
    _check_dtype(dtype)
    if not isinstance(data, bytes):
        raise _refuse('a numpy scalar whose data are not raw bytes')
    return _multiarray.scalar(dtype, data)


def _history_buffer_types() -> List[type]:
    from mmengine.logging import HistoryBuffer
    return [HistoryBuffer, _CheckedHistoryBuffer]


def _registered_statistics() -> Dict[str, Any]:
    """``HistoryBuffer``'s class-wide table of statistics methods (its
    defaults are only filled in by the first ``HistoryBuffer()``)."""
    from mmengine.logging import HistoryBuffer
    HistoryBuffer()
    return HistoryBuffer._statistics_methods


def _statistics_method(owner: Any, name: Any) -> Any:
    """``getattr`` as a checkpoint may use it: a registered statistics method
    of ``HistoryBuffer`` (``min``, ``max``, ``current``, ``mean`` and any
    method registered with ``HistoryBuffer.register_statistics``)."""
    registered = _registered_statistics()
    if owner not in _history_buffer_types() or not isinstance(name, str) \
            or name not in registered:
        raise _refuse(f'an attribute look-up ({name!r} of {owner!r})')
    return registered[name]


class _CheckedHistoryBuffer:
    """Built in place of ``HistoryBuffer`` while unpickling (see the module
    docstring); becomes a real ``HistoryBuffer`` once its state is checked."""

    def __setstate__(self, state: Dict[str, Any]) -> None:
        from mmengine.logging import HistoryBuffer
        if not isinstance(state, dict) or not set(state) <= _HISTORY_BUFFER_KEYS:
            keys = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise _refuse(f'a HistoryBuffer with unexpected state {keys}')
        max_length = state.get('max_length', 1000000)
        logs, counts = state.get('_log_history'), state.get('_count_history')
        if type(max_length) is not int or not all(
                type(a) is np.ndarray and a.ndim == 1 and a.dtype.kind in _NUMERIC_KINDS
                for a in (logs, counts)) or len(logs) != len(counts):
            raise _refuse('a HistoryBuffer whose history is not two numeric 1-D '
                          'arrays of equal length and an integer max_length')
        known = _registered_statistics()
        for name, method in dict(state.get('statistics_methods', {})).items():
            if known.get(name) is not method:
                raise _refuse(f'a HistoryBuffer statistics method {name!r} that is '
                              f'not registered in this process')
        self.__class__ = HistoryBuffer
        HistoryBuffer.__init__(self, max_length=max_length)
        self._log_history, self._count_history = logs, counts


def safe_checkpoint_globals() -> List[object]:
    """The ``(object, 'module.name')`` pairs this module allow-lists."""
    from mmengine.logging import HistoryBuffer
    hb_name = f'{HistoryBuffer.__module__}.{HistoryBuffer.__qualname__}'
    dtype_classes = [type(np.dtype(t)) for t in _NUMERIC_TYPES]
    return [
        (_statistics_method, 'builtins.getattr'),
        (_CheckedHistoryBuffer, hb_name),
        (_safe_reconstruct, f'{_MULTIARRAY}._reconstruct'),
        (_safe_scalar, f'{_MULTIARRAY}.scalar'),
        (_safe_dtype, 'numpy.dtype'),
        (_NDARRAY, 'numpy.ndarray'),
        # Arrays and dtypes are filled by their own C ``__setstate__``, which
        # torch only runs for allow-listed types. Listed under names without
        # a dot, which no pickled GLOBAL (always "module.name") can match:
        # the file can never call these classes, only fill what the
        # functions above built.
        (np.ndarray, 'mmdet_covid-ndarray-state'),
        *[(cls, f'mmdet_covid-{cls.__name__}-state') for cls in dtype_classes],
    ]


def allow_mmengine_checkpoint_types() -> List[object]:
    """Add the stand-ins to torch's ``weights_only`` allow-list.

    Idempotent and cheap: safe to call on every import of the package.

    Returns:
        list: The ``(object, name)`` pairs that were allow-listed.
    """
    allowed = safe_checkpoint_globals()
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
