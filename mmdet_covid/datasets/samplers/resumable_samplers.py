"""Samplers that can skip what a resumed run has already trained on.

mmengine's train loops replay a resumed epoch by loading and discarding the
batches already seen (or restart the epoch). These samplers instead skip
*indices*, so resuming at iteration 100k costs nothing and the order of the
data stays exactly that of an uninterrupted run.
"""
import itertools
from typing import Iterator

from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmdet.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class ResumableDefaultSampler(DefaultSampler):
    """:class:`DefaultSampler` whose next epoch can start part-way through.

    ``skip(n)`` drops the first ``n`` indices (of this rank) of the *next*
    iteration over the sampler only; the order itself is unchanged (seeded by
    ``seed`` and the epoch, as in the parent).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._skip = 0

    def skip(self, num_samples: int) -> None:
        """Skip ``num_samples`` indices at the start of the next epoch."""
        self._skip = int(num_samples)

    def __iter__(self) -> Iterator[int]:
        skip, self._skip = self._skip, 0
        return itertools.islice(super().__iter__(), skip, None)


@DATA_SAMPLERS.register_module()
class ResumableInfiniteSampler(InfiniteSampler):
    """:class:`InfiniteSampler` that can fast-forward its endless stream."""

    def skip(self, num_samples: int) -> None:
        """Drop the next ``num_samples`` indices (of this rank) now."""
        for _ in range(int(num_samples)):
            next(self.indices)
