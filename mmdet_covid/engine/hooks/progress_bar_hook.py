"""A terminal progress bar over training and testing iterations."""
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmdet.registry import HOOKS


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """Show a ``tqdm`` bar for the training run and for each val/test run.

    The bar's postfix shows the latest values of ``keys`` from the iteration
    outputs. Only the main process draws.

    Args:
        keys (tuple[str]): Output keys to show, e.g. ``('seg_loss', 'slice_loss')``.
    """

    priority = 'BELOW_NORMAL'

    def __init__(self, keys=('seg_loss', 'slice_loss')) -> None:
        self.keys = tuple(keys)
        self._bar = None

    def _open(self, total: int, desc: str, initial: int = 0) -> None:
        if not is_main_process():
            return
        from tqdm import tqdm
        self._close()
        self._bar = tqdm(total=total, initial=initial, desc=desc, unit='it',
                         dynamic_ncols=True, leave=True)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _step(self, outputs: Optional[dict] = None) -> None:
        if self._bar is None:
            return
        if isinstance(outputs, dict):
            shown = {k: f'{float(outputs[k]):.3f}' for k in self.keys if k in outputs}
            if shown:
                self._bar.set_postfix(shown, refresh=False)
        self._bar.update(1)

    def before_train(self, runner) -> None:
        self._open(runner.max_iters, 'train', initial=runner.iter)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._step(outputs)

    def after_train(self, runner) -> None:
        self._close()

    def before_val_epoch(self, runner) -> None:
        self._training_bar, self._bar = self._bar, None
        self._open(self._eval_length(runner.val_loop), 'val')

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._step()

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._close()
        self._bar = self._training_bar

    def before_test_epoch(self, runner) -> None:
        self._open(self._eval_length(runner.test_loop), 'test')

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._step()

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._close()

    @staticmethod
    def _eval_length(loop) -> int:
        """Batches of the loop, both tasks' parts for the dual-task loops."""
        parts = getattr(loop, 'parts', None)
        if parts:
            return sum(len(dataloader) for dataloader, _ in parts)
        return len(loop.dataloader)
