"""batch_predictions: a model's predictions on a stream of items, in batches, in order.

The one batch loop of the inference APIs and tools: :func:`~.inference.inference_ct_slices`
(``tools/infer.py``), :func:`~.scan_analysis.analyze_scan`, and the analysis tools that
run a model over a dataset. :class:`~.ssm_inferencer.SSMInferencer` keeps mmdet's
``DetInferencer`` loop, whose ``preprocess`` / ``forward`` / ``visualize`` /
``postprocess`` run per batch and are its public API.
"""
from itertools import islice
from typing import Callable, Iterable, Iterator, Optional, Tuple, TypeVar

import torch
from mmdet.structures import DetDataSample
from mmengine.dataset import pseudo_collate
from torch import nn

Item = TypeVar('Item')


@torch.no_grad()
def batch_predictions(model: nn.Module, items: Iterable[Item], batch_size: int,
                      prepare: Callable[[Item], Optional[dict]]
                      ) -> Iterator[Tuple[Item, DetDataSample]]:
    """Run ``model.test_step`` on ``items``, ``batch_size`` at a time, and yield each
    item with its prediction, in order.

    Items are taken ``batch_size`` at a time and each is prepared (read, transformed
    and packed); the prepared ones of the group are collated and run as one batch
    (a group whose items were all skipped runs nothing). Every item of a group is
    prepared before the group's predictions are yielded: what ``prepare`` records of
    a skipped item (e.g. an error) is known before the predictions that follow it.

    Args:
        model: a detector in eval mode (:func:`~mmdet_covid.apis.init_ssm`).
        items: what to predict on: indices into a dataset, slice descriptions, slices of a
            volume; read lazily, ``batch_size`` at a time.
        batch_size: items per group (and so at most per forward pass).
        prepare: one item's data as the test pipeline packs it
            (``dict(inputs, data_samples)``), or None to skip the item (the caller
            counts and reports what it skips).

    Yields:
        ``(item, sample)``: each prepared item and the :class:`DetDataSample` the model
        predicted for it (the pipeline's data sample with ``pred_*`` added).
    """
    if batch_size < 1:
        raise ValueError(f'batch_size {batch_size}: expected at least 1')
    items = iter(items)
    while True:
        group = list(islice(items, batch_size))
        if not group:
            return
        kept, batch = [], []
        for item in group:
            data = prepare(item)
            if data is not None:
                kept.append(item)
                batch.append(data)
        if batch:
            yield from zip(kept, model.test_step(pseudo_collate(batch)))
