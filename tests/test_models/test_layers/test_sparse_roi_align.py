import pytest
import torch
from mmcv.ops import RoIAlign

from mmdet_covid.models import SparseRoIAlign, SingleLevelRoIExtractor


def _rois(n, num_imgs, size, g):
    xy = torch.rand(n, 2, generator=g) * (size + 60) - 30  # some outside the image
    wh = torch.rand(n, 2, generator=g) * size * 0.4
    return torch.cat([torch.randint(0, num_imgs, (n, 1), generator=g).float(), xy, xy + wh], 1)


@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('out,sr,stride', [(7, 2, 16), (14, 2, 8), (5, 3, 4)])
def test_equals_mmcv_roi_align_forward_and_backward(aligned, out, sr, stride):
    g = torch.Generator().manual_seed(out * sr)
    feats = torch.randn(2, 16, 256 // stride, 200 // stride, generator=g, requires_grad=True)
    rois = _rois(300, 2, 256, g)
    ref = RoIAlign(out, 1 / stride, sr, 'avg', aligned)(feats, rois)
    ours = SparseRoIAlign(out, 1 / stride, sr, aligned)(feats, rois)
    assert ours.shape == ref.shape == (300, 16, out, out)
    assert torch.allclose(ours, ref, atol=1e-5)
    grad_out = torch.randn(ref.shape, generator=g)
    g_ref, = torch.autograd.grad(ref, feats, grad_out)
    g_ours, = torch.autograd.grad(ours, feats, grad_out)
    assert torch.allclose(g_ours, g_ref, atol=1e-4)


def test_no_rois_and_bad_sampling_ratio():
    feats = torch.randn(1, 4, 8, 8)
    assert SparseRoIAlign(7, 1.0)(feats, torch.zeros(0, 5)).shape == (0, 4, 7, 7)
    with pytest.raises(ValueError, match='sampling_ratio'):
        SparseRoIAlign(7, 1.0, sampling_ratio=0)


def test_extractor_builds_registry_layers_for_one_level():
    ext = SingleLevelRoIExtractor(
        roi_layer=dict(type='SparseRoIAlign', output_size=7, sampling_ratio=2),
        out_channels=4, featmap_strides=[16])
    assert isinstance(ext.roi_layers[0], SparseRoIAlign)
    assert ext.roi_layers[0].spatial_scale == 1 / 16
    stock = SingleLevelRoIExtractor(
        roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=2),
        out_channels=4, featmap_strides=[16])
    assert isinstance(stock.roi_layers[0], RoIAlign)
    with pytest.raises(ValueError, match='one feature level'):
        SingleLevelRoIExtractor(roi_layer=dict(type='SparseRoIAlign', output_size=7),
                                out_channels=4, featmap_strides=[8, 16])


def test_extractor_returns_the_stock_features_without_a_zero_filled_copy(monkeypatch):
    """The stock forward's features (and its guard for no RoIs), the scale factor
    applied, one map only."""
    from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
    ext = SingleLevelRoIExtractor(
        roi_layer=dict(type='SparseRoIAlign', output_size=7, sampling_ratio=2),
        out_channels=4, featmap_strides=[8])

    def stock(feats, rois):
        return SingleRoIExtractor.forward(ext, feats, rois)

    feats = (torch.randn(2, 4, 16, 16), )
    rois = torch.tensor([[0, 10., 10, 60, 50], [1, 0, 30, 40, 100]])
    torch.testing.assert_close(ext(feats, rois), stock(feats, rois), rtol=0, atol=0)
    allocated = []
    real_new_zeros = torch.Tensor.new_zeros
    with monkeypatch.context() as patch:
        patch.setattr(torch.Tensor, 'new_zeros', lambda self, *a, **k: allocated.append(a)
                      or real_new_zeros(self, *a, **k))
        ext(feats, rois)
    assert allocated == []
    scaled = ext.roi_rescale(rois, 1.5)
    torch.testing.assert_close(ext(feats, rois, roi_scale_factor=1.5), stock(feats, scaled))
    assert ext(feats, rois[:0]).shape == stock(feats, rois[:0]).shape == (0, 4, 7, 7)
    with pytest.raises(ValueError, match='one feature map, got 2'):
        ext(feats * 2, rois)


def test_channels_last_maps_give_the_same_values():
    """The detector's feature maps are channels-last: the values must not depend on the
    memory order (mmcv's kernel misreads such a map, hence the detector's check)."""
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(2, 8, 16, 16, generator=g)
    rois = _rois(50, 2, 256, g)
    align = SparseRoIAlign(7, 1 / 16, 2)
    ours = align(feats.contiguous(memory_format=torch.channels_last), rois)
    assert torch.allclose(ours, align(feats, rois), atol=1e-6)
    assert torch.allclose(ours, RoIAlign(7, 1 / 16, 2, 'avg', True)(feats, rois), atol=1e-5)


def test_float32_under_cpu_autocast():
    """torch has no bfloat16 sparse product: under autocast the layer computes in
    float32, with the same result."""
    torch.manual_seed(0)
    layer = SparseRoIAlign(output_size=7, spatial_scale=0.25, sampling_ratio=2)
    feats = torch.randn(1, 8, 16, 16)
    rois = torch.tensor([[0, 3., 4., 40., 50.], [0, 10., 2., 30., 60.]])
    with torch.autocast('cpu', dtype=torch.bfloat16):
        inside = layer(feats, rois)
        from_bf16 = layer(feats.bfloat16(), rois)
    assert inside.dtype == from_bf16.dtype == torch.float32
    assert torch.equal(inside, layer(feats, rois))
    torch.testing.assert_close(from_bf16, layer(feats.bfloat16().float(), rois))
