"""Counting the tensor operations a forward dispatches, and the host waits among them.

On a GPU at large batches each launch costs a few microseconds of host time and each
wait (a value read on the host: ``nonzero``, ``item``/``bool()``, ``tolist``,
boolean-mask indexing, ``unique``, ``bincount``, an NMS call) drains the queue, so these
counts are what per-image Python loops cost there, measured on a CPU. View operations,
which launch no kernel, are left out; an mmcv NMS call counts as one operation and one
wait on any device (its CPU kernel is made of tensor operations, its CUDA one is not).
"""
import contextlib
import importlib
from collections import defaultdict
from typing import Dict, Tuple

import torch
from torch import nn

from .benchmark import train_optim_wrapper
from .forward_stages import STAGES, instrument


class OpCounter:
    """Counts the operations dispatched while stages run.

    Use as a context manager around the forward; :func:`instrument` with
    ``counter.stage`` as its ``around`` tells it which stages are running.

    Attributes:
        ops: ``{stage: operations}`` dispatched while the stage ran (nested stages
            count in each enclosing one).
        syncs: ``{stage: host waits}`` among them.
    """
    # operations whose result size or value the host must read from the device
    SYNCS = ('aten::nonzero', 'aten::_local_scalar_dense', 'aten::masked_select',
             'aten::_unique2', 'aten::unique_dim', 'aten::unique_consecutive',
             'aten::repeat_interleave.Tensor', 'aten::bincount')

    def __init__(self) -> None:
        self.ops = defaultdict(int)
        self.syncs = defaultdict(int)
        self._running = []
        self._inside_nms = False

    @contextlib.contextmanager
    def stage(self, label: str):
        """A context in which the dispatched operations count for ``label``."""
        self._running.append(label)
        try:
            yield
        finally:
            self._running.pop()

    def _count(self, sync: bool) -> None:
        if self._inside_nms:
            return
        for label in self._running:
            self.ops[label] += 1
            self.syncs[label] += sync

    def __enter__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        counter = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                if not func.is_view:
                    bool_index = func.name() in ('aten::index.Tensor', 'aten::index_put_',
                                                 'aten::index_put') and any(
                        isinstance(i, torch.Tensor) and i.dtype == torch.bool
                        for i in (args[1] if len(args) > 1 else ()) if i is not None)
                    counter._count(func.name() in counter.SYNCS or bool_index)
                return func(*args, **(kwargs or {}))

        def counted(original, kernel):
            def call(*a, **k):
                counter._count(True)
                # mmcv's CPU NMS is C++ made of tensor operations, its CUDA NMS
                # a kernel: one operation whatever the device
                counter._inside_nms = kernel
                try:
                    return original(*a, **k)
                finally:
                    counter._inside_nms = False
            return call

        ext = importlib.import_module('mmcv.ops.nms').ext_module
        self._patched = [(owner, name, getattr(owner, name), name in vars(owner))
                         for owner, name in ((ext, 'nms'), (torch.Tensor, 'tolist'))]
        for owner, name, original, _ in self._patched:
            setattr(owner, name, counted(original, kernel=name == 'nms'))
        self._mode = _Mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._mode.__exit__(*exc)
        for owner, name, original, own in self._patched:
            if own:
                setattr(owner, name, original)
            else:  # inherited (Tensor.tolist): remove the override
                delattr(owner, name)


def count_ops(model: nn.Module, batch: dict, batch_size: int) -> Dict[str, Tuple[float, float]]:
    """``{stage: (operations, host waits)}`` per slice of one forward of ``batch`` (after
    one uncounted forward), for the stages of
    :data:`~mmdet_covid.utils.forward_stages.STAGES`."""
    counter = OpCounter()
    instrument(model, defaultdict(float), around=counter.stage)
    with torch.no_grad():
        model.test_step(batch)
        with counter:
            model.test_step(batch)
    return {label: (counter.ops[label] / batch_size, counter.syncs[label] / batch_size)
            for label, _, _ in STAGES}


TRAIN_STAGES = [f'{step} step: {part}' for step in ('segmentation', 'classification')
                for part in ('whole', 'forward + losses', 'backward', 'optimizer step')]


def count_train_ops(model: nn.Module, seg: dict, cls: dict,
                    batch_size: int) -> Dict[str, Tuple[float, float]]:
    """``{stage: (operations, host waits)}`` per slice of one training iteration
    (segmentation step on ``seg`` + classification step on ``cls``, with the optimizer
    ``tools/benchmark.py`` times it with: Adam), after one uncounted iteration; the
    stages are :data:`TRAIN_STAGES`.

    Adam runs its CPU loop over the parameters on a CPU; on CUDA its multi-tensor path
    launches fewer kernels.
    """
    model.train()
    wrapper = train_optim_wrapper(model)
    counter = OpCounter()
    for part, method in (('backward', 'backward'), ('optimizer step', 'step')):
        original = getattr(wrapper, method)

        def counted(*args, __original=original, __part=part, **kwargs):
            if not counter._running:  # the uncounted iteration
                return __original(*args, **kwargs)
            with counter.stage(f'{counter._running[0]} {__part}'):
                return __original(*args, **kwargs)
        setattr(wrapper, method, counted)
    for data in (seg, cls):
        model.train_step(data, wrapper)
    with counter:
        for step, data in (('segmentation step:', seg), ('classification step:', cls)):
            with counter.stage(step):
                model.train_step(data, wrapper)
    out = {}
    for step in ('segmentation step:', 'classification step:'):
        whole, backward, opt = (
            (counter.ops[k], counter.syncs[k]) for k in
            (step, f'{step} backward', f'{step} optimizer step'))
        forward = tuple(w - b - o for w, b, o in zip(whole, backward, opt))
        for part, (ops, syncs) in zip(('whole', 'forward + losses', 'backward',
                                       'optimizer step'),
                                      (whole, forward, backward, opt)):
            out[f'{step} {part}'] = (ops / batch_size, syncs / batch_size)
    return out
