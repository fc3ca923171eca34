import itertools

from mmdet_covid.datasets import ResumableDefaultSampler, ResumableInfiniteSampler


class _Data:
    def __len__(self):
        return 10


def test_default_sampler_skips_only_the_next_epoch():
    sampler = ResumableDefaultSampler(_Data(), shuffle=True, seed=3)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.skip(4)
    assert list(sampler) == full[4:]
    assert list(sampler) == full  # the skip was for one pass only
    sampler.set_epoch(3)
    assert list(sampler) != full  # order still follows seed + epoch


def test_infinite_sampler_fast_forwards_the_stream():
    reference = list(itertools.islice(iter(ResumableInfiniteSampler(_Data(), seed=5)), 35))
    sampler = ResumableInfiniteSampler(_Data(), seed=5)
    sampler.skip(23)
    assert list(itertools.islice(iter(sampler), 12)) == reference[23:]
