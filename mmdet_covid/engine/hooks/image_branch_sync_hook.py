"""When to copy the segmentation RoI branch into the frozen image branch."""
import logging
import math
from typing import Optional

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

POLICIES = ('on_best_seg_loss', 'every_n_iters', 'never')


@HOOKS.register_module()
class ImageBranchSyncHook(Hook):
    """Copy the segmentation box head into the image branch by a policy.

    The copy is made between the two steps of an iteration, in the
    ``after_seg_step`` event of :class:`InterleavedTrainLoop`, as in the
    reference code: the same iteration's classification step already reads
    the new copy. (The reference copies between the segmentation backward and
    its optimiser step; here the copy follows the optimiser step, i.e. the
    image branch is one update fresher.)

    - ``'on_best_seg_loss'`` (the reference code): whenever the total
      segmentation loss of an iteration (``seg_loss`` in the train step's
      outputs) reaches a new minimum. Under distributed training the loss is
      averaged over the ranks first, so every rank copies at the same step.
    - ``'every_n_iters'``: every ``interval`` iterations (also when the
      segmentation step was skipped).
    - ``'never'``: the image branch keeps the copy made at initialisation.

    The best loss and the number of copies are saved in checkpoints, so a
    resumed run makes the same decisions as an uninterrupted one.

    Args:
        policy (str): One of ``POLICIES``. Defaults to ``'on_best_seg_loss'``.
        interval (int): Iterations between copies for ``'every_n_iters'``.
        loss_key (str): Output key holding the segmentation loss.
    """

    priority = 'LOW'

    def __init__(self, policy: str = 'on_best_seg_loss', interval: int = 1,
                 loss_key: str = 'seg_loss') -> None:
        if policy not in POLICIES:
            raise ValueError(f'ImageBranchSyncHook: policy must be one of '
                             f'{POLICIES}, got policy={policy!r}')
        if policy == 'every_n_iters' and (not isinstance(interval, int) or interval < 1):
            raise ValueError(f'ImageBranchSyncHook: interval must be an integer '
                             f'>= 1, got interval={interval!r}')
        self.policy = policy
        self.interval = interval
        self.loss_key = loss_key
        self.best_seg_loss = math.inf
        self.num_copies = 0

    @staticmethod
    def _roi_head(runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        return model.roi_head

    def before_train(self, runner) -> None:
        """Start from a copy of the segmentation branch as loaded.

        ``load_from`` (e.g. a segmentation warm-up whose checkpoint has no
        image branch) is applied after the model's initial copy; a resumed
        run keeps the image branch of its checkpoint.
        """
        if not getattr(self._roi_head(runner), 'augmented', False):
            if self.policy != 'never':
                print_log('ImageBranchSyncHook: the RoI head has no separate image '
                          'branch (base variant); nothing will be copied',
                          logger='current', level=logging.WARNING)
                self.policy = 'never'
            return
        if not runner.resuming:  # (SSMRunner's, which InterleavedTrainLoop requires)
            self._roi_head(runner).copy_seg_weights()

    def _should_copy(self, runner, outputs: Optional[dict]) -> bool:
        if self.policy == 'every_n_iters':
            return self.every_n_train_iters(runner, self.interval)
        if self.policy == 'never' or not outputs or self.loss_key not in outputs:
            return False  # e.g. a segmentation batch without lesions was skipped
        loss = torch.as_tensor(float(outputs[self.loss_key]), dtype=torch.float64)
        all_reduce(loss, op='mean')
        if loss.item() < self.best_seg_loss:
            self.best_seg_loss = loss.item()
            return True
        return False

    def after_seg_step(self, runner, batch_idx: int, data_batch=None,
                       outputs: Optional[dict] = None) -> None:
        """Between the segmentation and the classification step.

        Args:
            outputs (dict, optional): The segmentation step's log values
                (``seg_loss`` among them); ``None`` if it was skipped.
        """
        if self._should_copy(runner, outputs):
            self._roi_head(runner).copy_seg_weights()
            self.num_copies += 1
        runner.message_hub.update_scalar('train/image_branch_copies', self.num_copies)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['image_branch_sync'] = dict(
            best_seg_loss=self.best_seg_loss, num_copies=self.num_copies)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('meta', {}).get('image_branch_sync')
        if state is not None:
            self.best_seg_loss = state['best_seg_loss']
            self.num_copies = state['num_copies']
