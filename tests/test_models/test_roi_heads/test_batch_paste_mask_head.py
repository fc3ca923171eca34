"""BatchPasteMaskHead: the masks of all images of a batch pasted in one call."""
import copy

import pytest
import torch
from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmdet.registry import MODELS
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from tests.conftest import model_cfg

CFG = ConfigDict(mask_thr_binary=0.5)


def _inputs(counts, size=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    preds, results = [], []
    for n in counts:
        xy = torch.rand(n, 2, generator=g) * size * 0.8 - 4
        boxes = torch.cat([xy, xy + 3 + torch.rand(n, 2, generator=g) * size * 0.4], 1)
        results.append(InstanceData(bboxes=boxes, scores=torch.rand(n, generator=g),
                                    labels=torch.zeros(n, dtype=torch.long)))
        preds.append(torch.randn(n, 1, 28, 28, generator=g) * 3)
    return tuple(preds), results


def _metas(scales, size=128):
    return [dict(ori_shape=(size, size), img_shape=(size, size), scale_factor=scale)
            for scale in scales]


def _calls(monkeypatch, head):
    """The number of masks of each paste call."""
    calls = []
    real = type(head)._predict_by_feat_single

    def spy(self, *args, **kwargs):
        calls.append(len(kwargs['mask_preds'] if 'mask_preds' in kwargs else args[0]))
        return real(self, *args, **kwargs)
    monkeypatch.setattr(type(head), '_predict_by_feat_single', spy)
    return calls


@pytest.mark.parametrize('rescale', [False, True])
@pytest.mark.parametrize('scales,pastes', [
    ([(0.5, 0.5)] * 4, [70]),  # one paste for the three images with detections
    ([(0.5, 0.5), (0.5, 0.5), (1.0, 1.0), (0.5, 0.5)], [30, 25, 15]),  # image by image
], ids=['one-paste', 'sizes-differ'])
@torch.no_grad()
def test_masks_and_boxes_are_the_per_image_ones(monkeypatch, scales, pastes, rescale):
    head = MODELS.build(model_cfg().roi_head.mask_head)
    counts = [30, 0, 25, 15]
    preds, results = _inputs(counts)
    expected = FCNMaskHead.predict_by_feat(head, preds, copy.deepcopy(results),
                                           _metas(scales), CFG, rescale)
    calls = _calls(monkeypatch, head)
    got = head.predict_by_feat(preds, copy.deepcopy(results), _metas(scales), CFG, rescale)
    assert calls == pastes
    for a, b, n, (w_scale, h_scale) in zip(got, expected, counts, scales):
        assert len(a) == len(b) == n
        # (mmdet gives an image without detections masks of its original size)
        shape = (128, 128) if rescale or n == 0 else \
            (round(128 * h_scale), round(128 * w_scale))
        assert a.masks.dtype == torch.bool and a.masks.shape == (n, ) + shape
        assert torch.equal(a.masks, b.masks) and torch.equal(a.bboxes, b.bboxes)
    if rescale:  # boxes back in the original image, as the stock head leaves them
        assert torch.equal(got[0].bboxes, results[0].bboxes / 0.5)
