"""nms_per_image: mmcv's batched NMS of each image alone, in one loop."""
import pytest
import torch
from mmcv.ops import batched_nms

from mmdet_covid.models.utils import nms_per_image

NMS = dict(type='nms', iou_threshold=0.5)


def _candidates(counts, num_groups, seed=0):
    g = torch.Generator().manual_seed(seed)
    total = sum(counts)
    xy = torch.rand(total, 2, generator=g) * 80
    boxes = torch.cat([xy, xy + 5 + torch.rand(total, 2, generator=g) * 30], 1)
    scores = torch.rand(total, generator=g).round(decimals=1)  # many equal scores
    idxs = torch.randint(num_groups, (total, ), generator=g)
    return boxes, scores, idxs


@pytest.mark.parametrize('max_per_img', [-1, 7])
@pytest.mark.parametrize('num_groups', [1, 3])
def test_each_image_gets_its_own_batched_nms(num_groups, max_per_img):
    counts = [60, 0, 45, 1]
    boxes, scores, idxs = _candidates(counts, num_groups)
    got = nms_per_image(boxes, scores, idxs, counts, NMS, max_per_img)
    start = 0
    assert len(got) == len(counts)
    for (dets, keep), count in zip(got, counts):
        sl = slice(start, start + count)
        if count == 0:
            assert dets.shape == (0, 5) and keep.shape == (0, )
        else:
            ref_dets, ref_keep = batched_nms(boxes[sl], scores[sl], idxs[sl], NMS)
            if max_per_img > 0:
                ref_dets, ref_keep = ref_dets[:max_per_img], ref_keep[:max_per_img]
            assert torch.equal(keep, ref_keep) and torch.equal(dets, ref_dets)
            assert len(keep) < count or count == 1
        start += count


def test_one_group_is_the_class_agnostic_nms():
    counts = [50, 30]
    boxes, scores, _ = _candidates(counts, 1, seed=1)
    got = nms_per_image(boxes, scores, None, counts, NMS)
    ref = nms_per_image(boxes, scores, torch.zeros(80, dtype=torch.long), counts, NMS)
    for (dets, keep), (ref_dets, ref_keep) in zip(got, ref):
        assert torch.equal(keep, ref_keep) and torch.equal(dets, ref_dets)
