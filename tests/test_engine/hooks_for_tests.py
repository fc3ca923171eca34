"""Hooks that the engine tests plug into real runs (also under torchrun)."""
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS


class Killed(RuntimeError):
    """Stands for the process being killed."""


@HOOKS.register_module()
class KillAtIterHook(Hook):
    """Abort the run after iteration ``at`` (after its checkpoint was saved)."""

    priority = 'LOWEST'

    def __init__(self, at: int) -> None:
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at:
            raise Killed(f'killed after iteration {self.at}')


@HOOKS.register_module()
class PoisonAtIterHook(Hook):
    """Make S output NaN from iteration ``at`` on (1-based)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.at:
            model = runner.model.module if is_model_wrapper(runner.model) else runner.model
            with torch.no_grad():
                model.classifier.mlp[0].weight.fill_(float('nan'))


@HOOKS.register_module()
class DumpRankWeightsHook(Hook):
    """Every rank saves its final weights to ``work_dir/rank<r>.pth``."""

    def after_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        torch.save(model.state_dict(), osp.join(runner.work_dir, f'rank{get_rank()}.pth'))


@HOOKS.register_module()
class BranchProbeHook(Hook):
    """Record, per iteration, whether the classification step's image branch
    equals the segmentation branch (i.e. reads a copy made this iteration)."""

    def __init__(self) -> None:
        self.events, self.cls_reads_copy, self._reads = [], [], []

    def before_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        head = model.roi_head

        def probe(module, args):
            if model.training:  # the classification step (not validation), 1-2 passes
                self._reads.append(torch.equal(head.image_bbox_head.fc_cls.weight,
                                               head.bbox_head.fc_cls.weight))
        head.image_bbox_head.register_forward_pre_hook(probe)

    def after_seg_step(self, runner, batch_idx, data_batch=None, outputs=None):
        self.events.append(('after_seg_step', runner.iter, outputs is not None))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.events.append(('after_train_iter', runner.iter))
        if self._reads:  # every pass of the step read the same weights
            assert len(set(self._reads)) == 1, self._reads
            self.cls_reads_copy.append(self._reads[0])
            self._reads = []
