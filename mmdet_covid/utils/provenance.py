"""What a checkpoint was trained on, and what every output of it must therefore say.

Training writes ``meta['training_data']`` into each checkpoint
(:class:`~mmdet_covid.engine.hooks.TrainingDataHook`): per task, ``seg`` (the lesion
model) and ``cls`` (the slice classifier), the dataset's name, whether it is synthetic,
its field of view and the millimetres per model pixel, and the config.
:func:`training_notices` turns it into the sentences that the scan report, ``infer.py``
and the inferencer show wherever a task was trained on the phantom, on unknown data or
not at all: its output is not validated on real CT.
"""
import os.path as osp
import zipfile
from typing import List, Optional

import torch

TRAINING_DATA_KEY = 'training_data'
TASKS = (('seg', 'lesion segmentation', 'lesions and their burden'),
         ('cls', 'slice classifier', 'slice and scan class'))


def read_checkpoint_meta(path: str) -> dict:
    """A checkpoint's ``meta`` dict (``{}`` without one), read with ``weights_only`` and
    the package's allow-list (nothing in the file is executed): a local zip checkpoint
    memory-mapped (its tensors are not read), an older local one whole, a URL through
    mmengine's loaders, as ``init_detector`` reads it."""
    if '://' in path:
        from mmengine.runner.checkpoint import _load_checkpoint
        checkpoint = _load_checkpoint(path, map_location='cpu')
    else:
        if not osp.isfile(path):
            raise FileNotFoundError(f'checkpoint {path!r} does not exist')
        checkpoint = torch.load(path, map_location='cpu', weights_only=True,
                                mmap=zipfile.is_zipfile(path))
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    return meta if isinstance(meta, dict) else {}


def training_data_of(meta: Optional[dict]) -> Optional[dict]:
    """``meta['training_data']`` of a loaded checkpoint's ``meta``, or None (written
    before the record existed, or by another tool)."""
    value = (meta or {}).get(TRAINING_DATA_KEY)
    return value if isinstance(value, dict) else None


def read_training_data(path: Optional[str]) -> Optional[dict]:
    """:func:`training_data_of` a checkpoint file, or None without one."""
    return training_data_of(read_checkpoint_meta(path)) if path else None


def training_notices(training_data: Optional[dict]) -> List[str]:
    """One sentence per task whose output is not validated on real CT.

    Args:
        training_data: :func:`read_training_data`'s record (None: nothing recorded).

    Returns:
        Sentences for the report's headline, ``report.json`` and the console; empty
        when both tasks were trained on data recorded as real CT.
    """
    if not training_data:
        return ['The checkpoint does not record what it was trained on (an untrained '
                'model, or one trained before mmdet-covid recorded it): neither its lesions '
                'nor its class are validated on real CT.']
    notices = []
    for task, model, output in TASKS:
        info = training_data.get(task)
        if not info:
            notices.append(f'The {model} was not trained in the run that wrote this '
                           f'checkpoint (nothing recorded for it): its {output} are not '
                           'validated on real CT.')
        elif info.get('synthetic') is True:
            notices.append(f'The {model} was trained on {info.get("name")}, synthetic data, '
                           f'and never saw a real CT: its {output} are not validated on '
                           'real CT.')
        elif info.get('synthetic') is not False:  # None, or anything but a plain False
            notices.append(f'The {model} was trained on {info.get("name")}, not recorded as '
                           f'real or synthetic: its {output} are not validated on real CT.')
    return notices


def model_pixel_mm(training_data: Optional[dict]) -> Optional[float]:
    """Millimetres per model pixel that the lesion model (else the classifier) was
    trained at, or None when unknown."""
    for task in ('seg', 'cls'):
        value = ((training_data or {}).get(task) or {}).get('model_pixel_mm')
        if value:
            return float(value)
    return None
