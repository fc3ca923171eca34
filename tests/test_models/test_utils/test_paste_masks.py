import importlib

import pytest
import torch
from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask

from mmdet_covid.models.utils import paste_masks


def _random_boxes(n, h, w, g):
    xy = torch.rand(n, 2, generator=g) * torch.tensor([w, h]) * 0.9 - 5
    wh = torch.rand(n, 2, generator=g) * torch.tensor([w, h]) * 0.5 + 0.5
    return torch.cat([xy, xy + wh], 1)


@pytest.mark.parametrize('n,h,w', [(1, 64, 64), (40, 120, 90), (7, 33, 200)])
def test_same_masks_as_mmdet_paste(n, h, w):
    g = torch.Generator().manual_seed(n)
    masks = torch.rand(n, 28, 28, generator=g)
    boxes = _random_boxes(n, h, w, g)
    ours = paste_masks(masks, boxes, h, w, threshold=0.5)
    ref, _ = _do_paste_mask(masks[:, None], boxes, h, w, skip_empty=False)
    ref = ref >= 0.5
    # Both are the same bilinear interpolation; only float rounding at the
    # threshold may differ.
    assert ours.shape == ref.shape and ours.dtype == torch.bool
    assert ref.any()
    assert (ours != ref).float().mean() < 1e-3


def test_soft_masks_and_edge_cases():
    masks = torch.ones(2, 28, 28)
    boxes = torch.tensor([[10., 10., 20., 30.], [50., 50., 50., 60.]])  # 2nd: zero width
    out = paste_masks(masks, boxes, 64, 64, threshold=-1)
    assert out.dtype == torch.uint8
    assert out[0, 12:28, 11:19].min() == 255 and out[0, :9].max() == 0
    assert out[1].max() == 0  # a zero-width box covers no pixel
    empty = paste_masks(torch.zeros(0, 28, 28), torch.zeros(0, 4), 32, 48)
    assert empty.shape == (0, 32, 48)


def test_chunked_paste_is_identical(monkeypatch):
    module = importlib.import_module('mmdet_covid.models.utils.paste_masks')
    g = torch.Generator().manual_seed(0)
    masks, boxes = torch.rand(9, 28, 28, generator=g), _random_boxes(9, 80, 80, g)
    whole = paste_masks(masks, boxes, 80, 80)
    monkeypatch.setattr(module, '_MAX_WINDOW_ELEMENTS', 1)  # one mask per chunk
    assert torch.equal(whole, paste_masks(masks, boxes, 80, 80))


@pytest.mark.parametrize('threshold', [0.5, -1])
def test_several_images_each_get_a_tensor_of_their_own(monkeypatch, threshold):
    """``counts``: one computation for the masks of several images; each image's
    result equals its own paste and owns its memory (chunks crossing images too)."""
    module = importlib.import_module('mmdet_covid.models.utils.paste_masks')
    g = torch.Generator().manual_seed(3)
    counts = [5, 0, 7, 3]
    masks, boxes = torch.rand(15, 28, 28, generator=g), _random_boxes(15, 70, 90, g)
    for limit in (module._MAX_WINDOW_ELEMENTS, 7200):  # one chunk; chunks of 4 across images
        monkeypatch.setattr(module, '_MAX_WINDOW_ELEMENTS', limit)
        outs = paste_masks(masks, boxes, 70, 90, threshold, counts=counts)
        assert [len(out) for out in outs] == counts
        for out, m, b in zip(outs, masks.split(counts), boxes.split(counts)):
            assert torch.equal(out, paste_masks(m, b, 70, 90, threshold))
            assert out.untyped_storage().nbytes() == out.numel() * out.element_size()
        assert torch.equal(torch.cat(outs), paste_masks(masks, boxes, 70, 90, threshold))
    with pytest.raises(ValueError, match=r'counts=\[5, 9\] sum to 14, but there are 15'):
        paste_masks(masks, boxes, 70, 90, counts=[5, 9])
