"""A replay memory of recent RoI batches, so that S learns on batches > 1."""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn


class RoIBatchReplay(nn.Module):
    """Ring buffer of the last ``size`` (RoI batch, label) pairs.

    With update rule 1 (S only) the RoI batch that S reads is a fixed
    function of the frozen detector: no gradient leaves S. A classification
    step at batch size 1 can then train S on a real minibatch at almost no
    cost: the new sample plus samples drawn from the most recent ones, whose
    RoI batches were computed by the detector of a few iterations before.
    Under update rules 2 and 3 the gradient must reach the backbone through
    the current forward pass, so the detector refuses a replay there.

    The memory is not saved in checkpoints (its tensors are non-persistent
    buffers: a checkpoint's keys do not depend on it); a resumed run starts
    with an empty memory and refills it.

    Args:
        size (int): Samples kept (the oldest is overwritten).
        batch (int): Samples per update of S: the new ones plus
            ``batch - new`` drawn without replacement from the memory
            (fewer while the memory is filling).
        steps (int): Updates of S per classification step: the first on the
            new samples plus remembered ones (:meth:`minibatch`), the other
            ``steps - 1`` on ``batch`` remembered ones alone (:meth:`sample`;
            ``DualTaskDetector.train_step``). S then learns at the pace of
            its updates rather than of the detector's forward passes. Not
            under DDP, whose wrapper runs its own ``train_step`` (refused by
            ``InterleavedTrainLoop``). Defaults to 1.
        row_shape (tuple, optional): ``(B, 5)``, the shape of one RoI batch:
            the memory is then allocated at once, so that its buffers keep
            one shape (mmengine's ``EMAHook`` copies buffers into a copy of
            the model made before the first step). Without it the memory is
            allocated at the first :meth:`push`.
    """

    def __init__(self, size: int, batch: int, steps: int = 1,
                 row_shape: Optional[tuple] = None) -> None:
        super().__init__()
        if not (isinstance(size, int) and isinstance(batch, int) and 1 <= batch <= size):
            raise ValueError(f'RoIBatchReplay: need integers 1 <= batch <= size, '
                             f'got size={size!r}, batch={batch!r}')
        if not (isinstance(steps, int) and steps >= 1):
            raise ValueError(f'RoIBatchReplay: steps must be an integer >= 1, got {steps!r}')
        self.size, self.batch, self.steps = size, batch, steps
        memory = torch.zeros((size, ) + tuple(row_shape)) if row_shape else torch.zeros(0)
        labels = torch.zeros(size if row_shape else 0, dtype=torch.long)
        self.register_buffer('memory', memory, persistent=False)
        self.register_buffer('labels', labels, persistent=False)
        self.count = 0  # samples pushed so far

    def __len__(self) -> int:
        return min(self.count, self.size)

    def push(self, roi_batch: Tensor, labels: Tensor) -> None:
        """Store ``(N, B, 5)`` RoI batches (detached) and their ``(N, )`` labels."""
        if self.memory.numel() == 0:
            self.memory = roi_batch.new_zeros((self.size, ) + tuple(roi_batch.shape[1:]))
            self.labels = labels.new_zeros(self.size)
        elif self.memory.shape[1:] != roi_batch.shape[1:]:
            raise ValueError(f'RoIBatchReplay: RoI batches of shape {tuple(roi_batch.shape[1:])}'
                             f', the memory holds {tuple(self.memory.shape[1:])}')
        slots = (self.count + torch.arange(len(labels), device=labels.device)) % self.size
        self.memory[slots] = roi_batch.detach()
        self.labels[slots] = labels
        self.count += len(labels)

    def _draw(self, among: int, n: int) -> Tuple[Tensor, Tensor]:
        """``n`` samples drawn without replacement from the oldest ``among``
        stored ones (slots counted from the oldest)."""
        start = (self.count - len(self)) % self.size
        pick = torch.randperm(among)[:n].to(self.labels.device)
        slots = (start + pick) % self.size
        return self.memory[slots], self.labels[slots]

    def minibatch(self, roi_batch: Tensor, labels: Tensor) -> Tuple[Tensor, Tensor]:
        """The new samples followed by up to ``batch - N`` remembered ones.

        Call after :meth:`push` of the same samples; those are not drawn
        twice (the draw excludes the newest ``N`` slots).
        """
        new = len(labels)
        older = len(self) - new
        extra = min(self.batch - new, older)
        if extra <= 0:
            return roi_batch, labels
        rows, old_labels = self._draw(older, extra)
        return torch.cat([roi_batch, rows]), torch.cat([labels, old_labels])

    def sample(self) -> Tuple[Tensor, Tensor]:
        """``batch`` remembered samples (fewer while the memory is filling),
        drawn without replacement: the minibatch of an extra update of S."""
        return self._draw(len(self), self.batch)
