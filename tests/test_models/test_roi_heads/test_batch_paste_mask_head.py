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


def _metas(scales, sizes=(128, 128, 128, 128)):
    return [dict(ori_shape=(size, size), img_shape=(size, size), scale_factor=scale)
            for scale, size in zip(scales, sizes)]


def _calls(monkeypatch, head):
    """The number of masks of each paste call (the CPU paste, whichever path)."""
    calls = []
    real = type(head)._paste

    def spy(self, mask_preds, *args, **kwargs):
        calls.append(len(mask_preds))
        return real(self, mask_preds, *args, **kwargs)
    monkeypatch.setattr(type(head), '_paste', spy)
    return calls


@pytest.mark.parametrize('rescale', [False, True])
@pytest.mark.parametrize('scales,sizes,pastes', [
    ([(0.5, 0.5)] * 4, [128] * 4, [70]),  # one paste for the three images with detections
    ([(0.5, 0.5), (0.5, 0.5), (1.0, 1.0), (0.5, 0.5)], [128] * 4, [30, 25, 15]),
    ([(0.5, 0.5)] * 4, [128, 128, 96, 128], [30, 25, 15]),  # image by image
], ids=['one-paste', 'scales-differ', 'sizes-differ'])
@torch.no_grad()
def test_masks_and_boxes_are_the_per_image_ones(monkeypatch, scales, sizes, pastes, rescale):
    head = MODELS.build(model_cfg().roi_head.mask_head)
    counts = [30, 0, 25, 15]
    preds, results = _inputs(counts)
    expected = FCNMaskHead.predict_by_feat(head, preds, copy.deepcopy(results),
                                           _metas(scales, sizes), CFG, rescale)
    calls = _calls(monkeypatch, head)
    got = head.predict_by_feat(preds, copy.deepcopy(results), _metas(scales, sizes), CFG,
                               rescale)
    assert calls == pastes
    for a, b, n, (w_scale, h_scale), size in zip(got, expected, counts, scales, sizes):
        assert len(a) == len(b) == n
        # (mmdet gives an image without detections masks of its original size)
        shape = (size, size) if rescale or n == 0 else \
            (round(size * h_scale), round(size * w_scale))
        assert a.masks.dtype == torch.bool and a.masks.shape == (n, ) + shape
        assert torch.equal(a.masks, b.masks) and torch.equal(a.bboxes, b.bboxes)
        for value in (a.masks, a.bboxes):  # its own memory, not a view of the batch's
            assert value.untyped_storage().nbytes() == value.numel() * value.element_size()
    if rescale:  # boxes back in the original image, as the stock head leaves them
        assert torch.equal(got[0].bboxes, results[0].bboxes / 0.5)


def _deconv_kernel_4(up: torch.nn.ConvTranspose2d) -> torch.nn.ConvTranspose2d:
    """``up`` with a kernel (4) larger than its stride (2): outputs overlap."""
    return torch.nn.ConvTranspose2d(up.in_channels, up.out_channels, 4, stride=2, padding=1)


@pytest.mark.parametrize('upsample_cfg,replace,size', [
    (dict(type='bilinear', scale_factor=2), None, 28),
    (dict(type='nearest', scale_factor=2), None, 28),
    (dict(type=None), None, 14),
    (dict(type='deconv', scale_factor=2), _deconv_kernel_4, 28),
], ids=['bilinear', 'nearest', 'no-upsampling', 'overlapping-deconv'])
@torch.no_grad()
def test_upsampling_it_cannot_fuse_runs_the_stock_layers(upsample_cfg, replace, size):
    """Upsampling that is not a per-pixel deconvolution: the stock forward, the
    numbers of an FCNMaskHead with the same weights."""
    cfg = dict(model_cfg().roi_head.mask_head, upsample_cfg=upsample_cfg)
    torch.manual_seed(0)
    head = MODELS.build(cfg)
    head.init_weights()
    stock = MODELS.build(dict(cfg, type='FCNMaskHead'))
    if replace is not None:
        head.upsample, stock.upsample = replace(head.upsample), replace(stock.upsample)
    stock.load_state_dict(head.state_dict())
    assert not head._fused_upsample()
    x = torch.randn(5, 256, 14, 14, generator=torch.Generator().manual_seed(1))
    out = head(x)
    assert out.shape == (5, 1, size, size)
    assert torch.equal(out, stock(x))
    assert head(x[:0]).shape == (0, 1, size, size)
