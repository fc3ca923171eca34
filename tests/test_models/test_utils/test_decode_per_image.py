"""decode_per_image: one decode for a batch, each image's boxes clipped to its shape."""
import torch
from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder

from mmdet_covid.models.utils import decode_per_image

CODER = DeltaXYWHBBoxCoder(target_stds=[0.1, 0.1, 0.2, 0.2])


def _inputs(counts):
    g = torch.Generator().manual_seed(0)
    total = sum(counts)
    xy = torch.rand(total, 2, generator=g) * 90
    priors = torch.cat([xy, xy + 10 + torch.rand(total, 2, generator=g) * 40], 1)
    return priors, torch.randn(total, 4, generator=g) * 2  # many boxes leave the image


def test_each_image_is_clipped_to_its_own_shape():
    counts = [20, 0, 30]
    priors, deltas = _inputs(counts)
    for shapes in ([(64, 96)] * 3, [(64, 96), (50, 50), (100, 40, 3)]):
        got = decode_per_image(CODER, priors, deltas, counts, shapes)
        expected = torch.cat([CODER.decode(p, d, max_shape=s[:2]) for p, d, s in
                              zip(priors.split(counts), deltas.split(counts), shapes)])
        assert torch.equal(got, expected)
        for boxes, (h, w, *_) in zip(got.split(counts), shapes):
            assert (boxes[:, 0::2] <= w).all() and (boxes[:, 1::2] <= h).all()
    assert (got[20:, 0::2] == 40).any()  # the third image's own width clipped something
