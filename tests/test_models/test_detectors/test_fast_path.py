"""The fast CPU path (channels-last memory, the mask head's fused per-pixel layers)
computes what the plain path computes, on fixed weights; the batched post-processing
(proposals, boxes, masks) gives exactly what mmdet's image-by-image one gives.

Tolerances: 1e-4 on probabilities and scores, 1e-3 pixel on box coordinates, 1e-3
relative on the losses of the first iteration (float32 rounding of differently ordered
sums); masks may differ only where a pixel's mask probability lies within rounding of
the 0.5 threshold."""
import copy

import pytest
import torch
from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmdet.registry import MODELS

from tests.conftest import (adam, assert_batched_post_processing_is_mmdets, cls_batch,
                            model_cfg, needs_bf16, seg_batch)


def _pair():
    torch.manual_seed(0)
    fast = MODELS.build(model_cfg())
    fast.init_weights()
    plain = MODELS.build(model_cfg(channels_last=False))
    plain.load_state_dict(fast.state_dict())
    assert fast.channels_last and not plain.channels_last
    conv = fast.backbone.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    return fast, plain


def test_fast_and_plain_paths_predict_the_same():
    fast, plain = _pair()
    outs = []
    for model in (fast, plain):
        model.eval()
        model.roi_head.test_cfg.score_thr = 0.0  # all 128 detections of the untrained model
        with torch.no_grad():
            data = model.data_preprocessor(seg_batch(2, size=256), False)
            outs.append(model(**data, mode='predict'))
    for a, b in zip(*outs):
        ia, ib = a.pred_instances, b.pred_instances
        assert len(ia) == len(ib) == 128
        torch.testing.assert_close(a.pred_score, b.pred_score, atol=1e-4, rtol=0)
        torch.testing.assert_close(ia.scores, ib.scores, atol=1e-4, rtol=0)
        torch.testing.assert_close(ia.bboxes, ib.bboxes, atol=1e-3, rtol=0)
        differ = (ia.masks != ib.masks).float().mean().item()
        assert differ < 1e-4, f'{differ:.2e} of the mask pixels differ'


def test_fast_and_plain_paths_train_the_same():
    fast, plain = _pair()
    losses = []
    for model in (fast, plain):
        model.train()
        wrapper = adam(model, lr=1e-4)
        torch.manual_seed(1)  # the same proposal sampling in both runs
        run = []
        for step in range(3):  # segmentation and classification steps, weights updated
            run.append(model.train_step(seg_batch(1, size=128, seed=step), wrapper))
            run.append(model.train_step(cls_batch([step % 3]), wrapper))
        losses.append(run)
    for i, (a, b) in enumerate(zip(*losses)):
        assert a.keys() == b.keys()
        # The first iteration agrees to float rounding. Later, Adam's updates of the
        # rounding differences reorder the untrained model's near-equal scores (all
        # about 0.5), so S's top-128 rows and the sampled RoIs may differ a little.
        rtol = 1e-3 if i < 2 else 5e-2
        for key in a:
            torch.testing.assert_close(a[key], b[key], atol=1e-4, rtol=rtol,
                                       msg=f'step {i}, {key}')


def test_fused_mask_head_equals_the_stock_layers_and_their_gradients():
    torch.manual_seed(0)
    head = MODELS.build(copy.deepcopy(model_cfg().roi_head.mask_head))
    head.init_weights()
    assert head._fused_upsample()
    x = torch.randn(6, 256, 14, 14, requires_grad=True)
    fused = head(x)
    stock = FCNMaskHead.forward(head, x)
    assert fused.shape == stock.shape == (6, 1, 28, 28)
    torch.testing.assert_close(fused, stock, atol=1e-5, rtol=1e-5)
    grads = [torch.autograd.grad(out.square().sum(), [x, head.upsample.weight,
                                                     head.conv_logits.weight])
             for out in (fused, stock)]
    for g_fused, g_stock in zip(*grads):
        torch.testing.assert_close(g_fused, g_stock, atol=1e-4, rtol=1e-4)
    assert head(x[:0]).shape == (0, 1, 28, 28)  # no RoI: the stock path


def test_channels_last_refuses_roi_layers_that_misread_it():
    stock = dict(type='SingleRoIExtractor', roi_layer=dict(
        _delete_=True, type='RoIAlign', output_size=14, sampling_ratio=2))
    with pytest.raises(ValueError, match=r'mask_roi_extractor.roi_layer is RoIAlign.*'
                                         r'channels_last=False'):
        MODELS.build(model_cfg(roi_head=dict(mask_roi_extractor=stock)))
    plain = MODELS.build(model_cfg(roi_head=dict(mask_roi_extractor=stock),
                                   channels_last=False))
    assert not plain.channels_last


def _bf16_pair(mode):
    torch.manual_seed(0)
    bf16 = MODELS.build(model_cfg(cpu_bf16=mode))
    bf16.init_weights()
    fp32 = MODELS.build(model_cfg())
    fp32.load_state_dict(bf16.state_dict())
    assert bf16.roi_head.cpu_bf16 == bf16.rpn_head.cpu_bf16 == mode
    assert fp32.roi_head.cpu_bf16 == fp32.rpn_head.cpu_bf16 == 'off'
    return bf16, fp32


def _record_dtypes(model):
    """The output dtypes of a convolution or linear layer of each heavy part."""
    seen = {}
    parts = dict(backbone=model.backbone.conv1, box=model.roi_head.bbox_head.shared_fcs[0],
                 image_box=model.roi_head.image_bbox_head.shared_fcs[0],
                 mask=model.roi_head.mask_head.convs[0].conv, rpn=model.rpn_head.rpn_conv)
    def hook(name):
        def record(module, inputs, output):
            seen.setdefault(name, output.dtype)
        return record
    for name, layer in parts.items():
        layer.register_forward_hook(hook(name))
    return seen


@needs_bf16
def test_cpu_bf16_inference_predicts_close_to_float32():
    """Tolerances for bfloat16 (8 significant bits) on the untrained model: S's
    probabilities to 0.02, the sorted detection scores to 0.01 (its near-equal
    scores, all about 0.5, may change order), the number of detections exactly."""
    bf16, fp32 = _bf16_pair('inference')
    seen = _record_dtypes(bf16)
    outs = []
    for model in (bf16, fp32):
        model.eval()
        model.roi_head.test_cfg.score_thr = 0.0
        with torch.no_grad():
            data = model.data_preprocessor(seg_batch(2, size=256), False)
            outs.append(model(**data, mode='predict'))
    assert seen == dict(backbone=torch.bfloat16, box=torch.bfloat16,
                        image_box=torch.bfloat16, mask=torch.bfloat16, rpn=torch.bfloat16)
    for a, b in zip(*outs):
        ia, ib = a.pred_instances, b.pred_instances
        assert ia.scores.dtype == ia.bboxes.dtype == a.pred_score.dtype == torch.float32
        assert len(ia) == len(ib) == 128
        torch.testing.assert_close(a.pred_score, b.pred_score, atol=0.02, rtol=0)
        torch.testing.assert_close(ia.scores.sort().values, ib.scores.sort().values,
                                   atol=0.01, rtol=0)


def test_cpu_bf16_is_the_detectors_option_only():
    with pytest.raises(ValueError, match=r"DualTaskDetector: cpu_bf16 must be one of .*'half'"):
        MODELS.build(model_cfg(cpu_bf16='half'))
    with pytest.raises(TypeError, match='cpu_bf16'):  # no head takes its own
        MODELS.build(model_cfg(roi_head=dict(cpu_bf16='always')))
    with pytest.raises(TypeError, match='cpu_bf16'):
        MODELS.build(model_cfg(rpn_head=dict(cpu_bf16='always')))


@needs_bf16
def test_cpu_bf16_assigned_after_building_switches_every_part():
    """As compare_precision.py does: one assignment switches all heavy parts."""
    torch.manual_seed(0)
    model = MODELS.build(model_cfg()).eval()
    model.roi_head.test_cfg.score_thr = 0.0  # detections, so that the mask head runs
    seen = _record_dtypes(model)
    for mode, dtype in (('inference', torch.bfloat16), ('off', torch.float32)):
        model.cpu_bf16 = mode
        seen.clear()
        with torch.no_grad():
            model(**model.data_preprocessor(seg_batch(1, size=128), False), mode='predict')
        assert seen == dict.fromkeys(('backbone', 'box', 'image_box', 'mask', 'rpn'),
                                     dtype), mode


def _first_iteration(model):
    model.train()
    wrapper = adam(model, lr=1e-4)
    torch.manual_seed(1)
    return [model.train_step(seg_batch(1, size=128), wrapper),
            model.train_step(cls_batch([2]), wrapper)]


@needs_bf16
def test_cpu_bf16_inference_mode_trains_in_float32():
    bf16, fp32 = _bf16_pair('inference')
    seen = _record_dtypes(bf16)
    for a, b in zip(_first_iteration(bf16), _first_iteration(fp32)):
        for key in a:
            assert torch.equal(a[key], b[key]), key
    assert set(seen.values()) == {torch.float32}


@needs_bf16
def test_cpu_bf16_always_trains_in_bf16_with_close_losses():
    bf16, fp32 = _bf16_pair('always')
    seen = _record_dtypes(bf16)
    before = bf16.backbone.conv1.weight.clone()
    losses = _first_iteration(bf16)
    assert seen['backbone'] == seen['box'] == seen['mask'] == seen['rpn'] == torch.bfloat16
    assert not torch.equal(before, bf16.backbone.conv1.weight)  # gradients reached it
    # The RPN's losses (fixed anchors) and S's loss are close to float32's. The RoI
    # head's losses are only finite: they follow the RoIs sampled among the proposals,
    # which bfloat16 rounding can reorder (on an Intel Xeon with AMX the mask loss of
    # this batch was 1.44 against 1.73, other positives sampled; 5% apart on AMD EPYC).
    (seg, cls), (seg32, cls32) = losses, _first_iteration(fp32)
    for key in (k for k in seg if 'loss' in k):  # not the accuracies: counts of RoIs
        assert torch.isfinite(seg[key]).all(), key
    for key in ('seg_loss_rpn_cls', 'seg_loss_rpn_bbox'):
        torch.testing.assert_close(seg[key], seg32[key], atol=2e-3, rtol=5e-2, msg=key)
    torch.testing.assert_close(cls['slice_loss'], cls32['slice_loss'], atol=2e-3, rtol=5e-2)


def test_batched_post_processing_predicts_what_mmdets_per_image_one_does(monkeypatch):
    assert_batched_post_processing_is_mmdets(monkeypatch)
