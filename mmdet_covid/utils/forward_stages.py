"""The stages of the SSM's inference forward, and a timer on each of them.

The stage table of ``tools/analysis_tools/profile_inference.py``: each stage is a method
of the model or one of its parts, wrapped so that its calls add up their seconds (and
run inside a context, e.g. :meth:`~mmdet_covid.utils.op_counter.OpCounter.stage`).
"""
import contextlib
import statistics
import time
from collections import defaultdict
from typing import Callable, Dict, Optional

import torch
from torch import nn

# (label, owner path from the model, method): each call is timed, nested by depth
STAGES = [
    ('whole forward (test_step)', '', 'test_step'),
    ('  backbone + neck (extract_feat)', '', 'extract_feat'),
    ('  RPN: head + proposals (rpn_head.predict)', 'rpn_head', 'predict'),
    ('  RoI box branch: segmentation box head + NMS (roi_head.predict_bbox)', 'roi_head',
     'predict_bbox'),
    ('    RoIAlign 7x7 (bbox_roi_extractor)', 'roi_head.bbox_roi_extractor', 'forward'),
    ('    segmentation box head (bbox_head)', 'roi_head.bbox_head', 'forward'),
    ('    box post-processing + NMS (roi_head._post_process_boxes)', 'roi_head',
     '_post_process_boxes'),
    # on the RoI features the box forward kept: no RoIAlign of its own
    ('  RoI batch for S (roi_batch_from_kept)', 'roi_head', 'roi_batch_from_kept'),
    ('    image box head (image branch)', 'roi_head', '_image_forward'),
    ('  classifier S', 'classifier', 'forward'),
    ('  masks (roi_head.predict_mask)', 'roi_head', 'predict_mask'),
    ('    RoIAlign 14x14 (mask_roi_extractor)', 'roi_head.mask_roi_extractor', 'forward'),
    ('    mask head convolutions (mask_head)', 'roi_head.mask_head', 'forward'),
    ('    paste at 512x512 (mask_head.predict_by_feat)', 'roi_head.mask_head',
     'predict_by_feat'),
]


def _owner(model: nn.Module, path: str):
    obj = model
    for part in filter(None, path.split('.')):
        obj = getattr(obj, part)
    return obj


def instrument(model: nn.Module, times: Dict[str, float],
               sync: Callable[[], None] = lambda: None,
               around: Optional[Callable[[str], contextlib.AbstractContextManager]] = None
               ) -> None:
    """Wrap each stage's method so that its calls add their seconds to ``times``.

    Args:
        model: an SSM; its stage methods are replaced on the instances that own them.
        times: ``{label: seconds}``, added to (a ``defaultdict(float)``).
        sync: called before each clock reading, e.g. ``torch.cuda.synchronize``.
        around: ``around(label)``, a context each call runs in, e.g.
            :meth:`~mmdet_covid.utils.op_counter.OpCounter.stage`.
    """
    around = around or (lambda label: contextlib.nullcontext())
    for label, path, method in STAGES:
        owner = _owner(model, path)
        original = getattr(owner, method)

        def timed(*args, __original=original, __label=label, **kwargs):
            sync()
            start = time.perf_counter()
            try:
                with around(__label):
                    return __original(*args, **kwargs)
            finally:
                sync()
                times[__label] += time.perf_counter() - start

        setattr(owner, method, timed)


def stage_seconds(model: nn.Module, batch: dict, batch_size: int, repeats: int,
                  sync: Callable[[], None] = lambda: None) -> Dict[str, float]:
    """Median seconds per slice of each stage (inclusive: a stage's time contains its
    nested stages'), over ``repeats`` forwards of ``batch`` after two untimed ones.

    The model's stage methods stay wrapped (:func:`instrument`) afterwards.

    Args:
        model: an SSM in eval mode.
        batch: a packed batch of ``batch_size`` slices.
        batch_size: slices in ``batch``: the seconds are divided by it.
        repeats: timed forwards.
        sync: called before each clock reading, e.g. ``torch.cuda.synchronize``.

    Returns:
        ``{label: seconds per slice}`` in the order of :data:`STAGES` (a stage that did
        not run: 0).
    """
    runs = defaultdict(list)
    times = defaultdict(float)
    instrument(model, times, sync)
    with torch.no_grad():
        for i in range(repeats + 2):
            times.clear()
            model.test_step(batch)
            if i >= 2:  # two warm-up passes
                for label, _, _ in STAGES:
                    runs[label].append(times.get(label, 0.0) / batch_size)
    return {label: statistics.median(runs[label]) for label, _, _ in STAGES}
