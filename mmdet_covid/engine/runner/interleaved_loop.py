"""The SSM training loop: a segmentation step and a classification step per
iteration, the classification data driving the epochs (paper section III)."""
import itertools
import logging
import math
from typing import Dict, Optional, Sequence, Union

import torch
from mmengine.dataset import InfiniteSampler
from mmengine.dist import all_reduce, get_world_size
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop
from mmengine.runner.utils import set_random_seed
from mmdet.registry import LOOPS
from torch.utils.data import DataLoader

from ...datasets.samplers import ResumableDefaultSampler  # noqa: F401  (registers)
from .resume_guard import remove_orphaned_temp_files
from .ssm_runner import require_ssm_runner


def sampler_of(dataloader: DataLoader):
    """The sampler that decides the order (inside a batch sampler if any)."""
    inner = getattr(dataloader.batch_sampler, 'sampler', None)
    return inner if hasattr(inner, 'set_epoch') else dataloader.sampler


def check_dataset_kind(dataloader: DataLoader, kind: str, slot: str) -> None:
    """Fail early, naming the config slot, when a dataset is of the wrong kind.

    Args:
        kind (str): ``'seg'`` (instances, e.g. ``LesionSegDataset``) or
            ``'cls'`` (slice labels, e.g. ``CTSliceClsDataset``).
        slot (str): The config key, for the message.
    """
    dataset = dataloader.dataset
    name = type(dataset).__name__
    if len(dataset) == 0:
        raise ValueError(f'{slot}: the dataset ({name}) is empty')
    info = dataset.get_data_info(0)
    is_cls, is_seg = 'gt_label' in info, 'instances' in info
    if (kind == 'cls' and not is_cls) or (kind == 'seg' and not is_seg):
        expected = ('a classification dataset whose samples carry gt_label '
                    '(e.g. CTSliceClsDataset)' if kind == 'cls' else
                    'a segmentation dataset whose samples carry instances '
                    '(e.g. LesionSegDataset)')
        raise TypeError(f'{slot} must be {expected}, got {name} '
                        f'(first sample keys: {sorted(info)})')


def warn_missing_classes(dataloader: DataLoader, slot: str) -> None:
    """Warn, naming them, about classes without a single training sample."""
    dataset = dataloader.dataset
    classes = tuple((getattr(dataset, 'metainfo', None) or {}).get('classes', ()))
    if not classes:
        return
    seen = {int(dataset.get_data_info(i)['gt_label']) for i in range(len(dataset))}
    missing = [name for k, name in enumerate(classes) if k not in seen]
    if missing:
        print_log(f'{slot}: the classification training set has no sample of '
                  f'{missing} (classes {list(classes)}): S cannot learn to predict '
                  f'{"it" if len(missing) == 1 else "them"}', logger='current',
                  level=logging.WARNING)


@LOOPS.register_module()
class InterleavedTrainLoop(EpochBasedTrainLoop):
    """Epoch-based loop over the classification data that also draws a
    segmentation batch every iteration.

    Each iteration runs, through ``runner.model.train_step`` (so that it is
    correct under ``MMDistributedDataParallel``):

    1. the segmentation step on the next batch of an endless, seeded stream
       over the segmentation dataset. Images without lesions are dropped from
       the batch and counted (``seg_skipped``); if a batch is left empty on
       any rank, every rank skips the step, as the paper skips such images;
    2. the hooks' ``after_seg_step(runner, batch_idx, data_batch, outputs)``
       (``outputs`` is ``None`` when the step was skipped): the point where
       ``ImageBranchSyncHook`` refreshes the image branch;
    3. the classification step on the batch of the classification dataloader
       (an epoch is one pass over it, as in the paper).

    The iteration's outputs (one log line) hold both steps' values,
    ``seg_...`` and ``cls_...``; ``seg_loss`` is the total segmentation loss.
    A non-finite value stops training with an error that names the
    iteration and the losses; no checkpoint is written after it.

    Resume is exact: the epoch is continued at the next unseen batch and the
    segmentation stream at the next unseen sample (skipping sampler indices
    when the sampler supports it, e.g. ``ResumableDefaultSampler`` and
    ``ResumableInfiniteSampler``, else by loading and discarding batches),
    and with ``reseed_every_iter`` the random state of each iteration is a
    function of ``(seed, iteration)`` only, so a resumed run draws the same
    RoI samples as an uninterrupted one.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader or dict): Classification dataloader.
        seg_dataloader (DataLoader or dict): Segmentation dataloader (use an
            infinite sampler, e.g. ``ResumableInfiniteSampler``).
        max_epochs (int): Epochs over the classification data.
        val_begin (int): First epoch that validates. Defaults to 1.
        val_interval (int): Validation interval in epochs. Defaults to 1.
        reseed_every_iter (bool): Seed the random generators with
            ``seed + iteration`` before every iteration. Defaults to True.
        max_iters (int, optional): Stop after this many iterations, even in
            the middle of an epoch (the epoch's hooks still run, so its
            checkpoint is written). Defaults to None (``max_epochs`` only).
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 seg_dataloader: Union[DataLoader, Dict],
                 max_epochs: int,
                 val_begin: int = 1,
                 val_interval: int = 1,
                 reseed_every_iter: bool = True,
                 max_iters: Optional[int] = None,
                 dynamic_intervals: Optional[Sequence] = None) -> None:
        require_ssm_runner(runner, type(self).__name__)
        super().__init__(runner, dataloader, max_epochs, val_begin, val_interval,
                         dynamic_intervals)
        check_dataset_kind(self.dataloader, 'cls', 'train_dataloader')
        replay = getattr(runner.model.module, 'cls_replay', None) \
            if is_model_wrapper(runner.model) else None
        if replay is not None and replay.steps > 1:
            raise ValueError(
                f'InterleavedTrainLoop: model.cls_replay.steps={replay.steps} takes its extra '
                f'updates of S in DualTaskDetector.train_step, which the distributed '
                f'wrapper ({type(runner.model).__name__}) does not call: use steps=1')
        warn_missing_classes(self.dataloader, 'train_dataloader')
        # interrupted checkpoint writes of an earlier run (SSMRunner.load_or_resume
        # checks what is resumed)
        remove_orphaned_temp_files(runner.work_dir)
        # Built lazily in run(): after a resume has restored the seed.
        self._seg_dataloader_cfg = seg_dataloader
        self.seg_dataloader: Optional[DataLoader] = None
        self._seg_iterator = None
        self._seg_epoch = 0
        self.reseed_every_iter = reseed_every_iter
        if max_iters is not None:
            if not isinstance(max_iters, int) or max_iters < 1:
                raise ValueError(f'InterleavedTrainLoop: max_iters must be an integer '
                                 f'>= 1 or None, got max_iters={max_iters!r}')
            self._max_iters = min(self._max_iters, max_iters)

    # -- the segmentation stream --------------------------------------------
    def _build_seg_stream(self) -> None:
        cfg = self._seg_dataloader_cfg
        if isinstance(cfg, dict):
            self.seg_dataloader = self.runner.build_dataloader(
                cfg, seed=self.runner.seed, diff_rank_seed=self.runner.diff_rank_seed)
        else:
            self.seg_dataloader = cfg
        check_dataset_kind(self.seg_dataloader, 'seg', 'train_cfg.seg_dataloader')
        # One segmentation batch was drawn per iteration so far: continue the
        # stream at the next one.
        consumed = self._iter
        sampler = sampler_of(self.seg_dataloader)
        if consumed and hasattr(sampler, 'skip'):
            batch_size = self.seg_dataloader.batch_size
            if isinstance(sampler, InfiniteSampler):
                sampler.skip(consumed * batch_size)
            else:  # a finite sampler is cycled epoch after epoch
                self._seg_epoch, offset = divmod(consumed, len(self.seg_dataloader))
                sampler.set_epoch(self._seg_epoch)
                sampler.skip(offset * batch_size)
            consumed = 0
        self._seg_iterator = iter(self.seg_dataloader)
        if consumed:
            print_log(f'Resuming: loading and discarding {consumed} segmentation '
                      f'batches (a Resumable* sampler skips them without '
                      f'loading)', logger='current', level=logging.WARNING)
            for _ in range(consumed):
                self._next_seg_batch()

    def _next_seg_batch(self) -> dict:
        try:
            return next(self._seg_iterator)
        except StopIteration:  # a finite sampler: start its next epoch
            self._seg_epoch += 1
            sampler = sampler_of(self.seg_dataloader)
            if hasattr(sampler, 'set_epoch'):
                sampler.set_epoch(self._seg_epoch)
            self._seg_iterator = iter(self.seg_dataloader)
            return next(self._seg_iterator)

    # -- epochs and iterations ------------------------------------------------
    def run_epoch(self) -> None:
        """Iterate one epoch, or its remainder after a resume."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        if self._seg_iterator is None:
            self._build_seg_stream()
        sampler = sampler_of(self.dataloader)
        if getattr(sampler, 'seed', self.runner.seed) != self.runner.seed:
            sampler.seed = self.runner.seed  # a resume restored the run's seed
        start = self._iter - self._epoch * len(self.dataloader)
        if start and hasattr(sampler, 'skip'):
            sampler.skip(start * self.dataloader.batch_size)
            batches = enumerate(self.dataloader, start)
        else:
            batches = itertools.islice(enumerate(self.dataloader), start, None)
        while self._iter < self._max_iters:
            self._reseed()
            try:
                idx, data_batch = next(batches)
            except StopIteration:
                break
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
        if self._iter >= self._max_iters:
            self.stop_training = True  # max_iters reached within the epochs

    def _reseed(self) -> None:
        if self.reseed_every_iter:
            set_random_seed(self.runner.seed + self._iter,
                            diff_rank_seed=self.runner.diff_rank_seed)

    def run_iter(self, idx: int, data_batch: dict) -> None:
        """One segmentation step and one classification step.

        Between the two steps the hooks' ``after_seg_step`` runs (the
        reference copies the segmentation RoI branch into the image branch
        there, so that this iteration's classification step already reads the
        copy). Each step's losses are checked as soon as the step ends.

        Args:
            idx (int): Index of the classification batch in the epoch.
            data_batch (dict): The classification batch.
        """
        self.runner.call_hook('before_train_iter', batch_idx=idx, data_batch=data_batch)
        model, optim_wrapper = self.runner.model, self.runner.optim_wrapper

        seg_batch = self._drop_empty(self._next_seg_batch())
        seg_outputs = None
        if seg_batch is not None:
            seg_outputs = self._prefixed(model.train_step(seg_batch, optim_wrapper), 'seg')
            self._check_finite(seg_outputs, 'segmentation')
        self.runner.call_hook('after_seg_step', batch_idx=idx, data_batch=seg_batch,
                              outputs=seg_outputs)
        cls_outputs = self._prefixed(model.train_step(data_batch, optim_wrapper), 'cls')
        self._check_finite(cls_outputs, 'classification')

        outputs = dict(seg_outputs or {}, **cls_outputs)
        outputs['seg_skipped'] = float(self.runner.message_hub.get_info('seg_skipped', 0))
        self.runner.call_hook(
            'after_train_iter', batch_idx=idx, data_batch=data_batch, outputs=outputs)
        self._iter += 1

    def _drop_empty(self, seg_batch: dict) -> Optional[dict]:
        """Drop images without lesions; ``None`` if the step must be skipped."""
        samples = seg_batch['data_samples']
        keep = [i for i, s in enumerate(samples) if len(s.gt_instances) > 0]
        num_dropped = len(samples) - len(keep)
        # Under DDP every rank must run the step or none: skip it everywhere
        # as soon as one rank has nothing left.
        left = torch.tensor(float(len(keep)))
        if get_world_size() > 1:
            all_reduce(left, op='min')
        if left.item() == 0:
            num_dropped = len(samples)
        if num_dropped:
            hub = self.runner.message_hub
            total = hub.get_info('seg_skipped', 0) + num_dropped
            if total == num_dropped:
                print_log('Segmentation images without lesions are skipped '
                          '(counted as seg_skipped in the log)', logger='current',
                          level=logging.WARNING)
            hub.update_info('seg_skipped', total)
        if left.item() == 0:
            return None
        if num_dropped:
            seg_batch = {key: [value[i] for i in keep] for key, value in seg_batch.items()}
        return seg_batch

    @staticmethod
    def _prefixed(log_vars: Dict[str, torch.Tensor], task: str) -> Dict[str, float]:
        """The model's keys already carry the task; the total gets it too."""
        out = {}
        for key, value in log_vars.items():
            if key == 'loss':
                key = f'{task}_loss'
                if key in log_vars:
                    continue  # the total is that single loss
            out[key] = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
        return out

    def _check_finite(self, outputs: Dict[str, float], step: str) -> None:
        """Stop at the first non-finite value, naming the step and iteration."""
        bad = {k: v for k, v in outputs.items() if not math.isfinite(v)}
        if bad:
            last = self.runner.message_hub.get_info('last_ckpt', None)
            raise FloatingPointError(
                f'Non-finite loss in the {step} step of epoch {self._epoch + 1}, '
                f'iteration {self._iter + 1}: '
                + ', '.join(f'{k}={v}' for k, v in bad.items())
                + ' (all values: ' + ', '.join(f'{k}={v:.4g}' for k, v in
                                               outputs.items()) + '). Training '
                f'stopped before any checkpoint of this state was written; the '
                f'last good checkpoint is {last or "none (none was saved yet)"}. '
                f'A learning rate too large for the schedule is the usual cause.')
