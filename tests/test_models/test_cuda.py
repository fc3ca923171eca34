"""On a GPU the SSM computes what it computes on the CPU.

On CUDA tensors ``SparseRoIAlign`` hands over to mmcv's RoIAlign kernel and the
batched paste and RoI batch selection run as CUDA kernels; these tests pin
that the numbers stay the same, and that the post-processing batched over
images gives mmdet's per-image detections there too. CI has no GPU, so they are skipped there; run
them on a GPU machine with ``pytest tests/test_models/test_cuda.py``.
"""
import copy

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
from mmdet.structures.bbox import bbox2roi

from mmdet_covid.models import RoIBatchSelection, SparseRoIAlign
from mmdet_covid.models.utils import paste_masks
from tests.conftest import (SEG_KEYS, adam, assert_batched_post_processing_is_mmdets,
                            changed, cls_batch, model_cfg, seg_batch)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')


@pytest.fixture(autouse=True)
def _exact_fp32():
    """TF32 convolutions/matmuls would make CUDA differ from the CPU by ~1e-3."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_roi_align_paste_and_selection_match_cpu():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 8, 32, 32, generator=g)
    xy = torch.rand(300, 2, generator=g) * 480
    rois = torch.cat([torch.randint(0, 2, (300, 1), generator=g).float(), xy,
                      xy + torch.rand(300, 2, generator=g) * 120 + 1], 1)
    align = SparseRoIAlign(7, 1 / 16, 2)
    assert torch.allclose(align(feats.cuda(), rois.cuda()).cpu(), align(feats, rois), atol=1e-5)
    nhwc = feats.cuda().contiguous(memory_format=torch.channels_last)  # the detector's maps
    assert torch.allclose(align(nhwc, rois.cuda()).cpu(), align(feats, rois), atol=1e-5)

    masks, boxes = torch.rand(40, 28, 28, generator=g), rois[:40, 1:]
    cpu = paste_masks(masks, boxes, 512, 512)
    assert (paste_masks(masks.cuda(), boxes.cuda(), 512, 512).cpu() != cpu).float().mean() < 1e-4

    rois = bbox2roi([rois[:200, 1:], rois[200:203, 1:]])  # more and fewer than B
    cls_score = torch.randn(len(rois), 2, generator=g) * 3
    bbox_pred = torch.randn(len(rois), 4, generator=g) * 0.1
    coder, shapes = DeltaXYWHBBoxCoder(target_stds=[0.1, 0.1, 0.2, 0.2]), [(512, 512)] * 2
    sel = RoIBatchSelection(num_rois=128)
    ref = sel(rois, cls_score, bbox_pred, coder, shapes)
    out = sel(rois.cuda(), cls_score.cuda(), bbox_pred.cuda(), coder, shapes)
    assert torch.allclose(out.cpu(), ref, atol=1e-5)


def test_predict_on_cuda_matches_cpu():
    torch.manual_seed(0)
    model = MODELS.build(model_cfg())
    model.init_weights()
    model.eval()
    model.roi_head.test_cfg.score_thr = 0.0  # all 128 detections of an untrained model
    gpu = copy.deepcopy(model).cuda()
    batch = seg_batch(2, size=512)
    with torch.no_grad():
        ref = model.test_step(batch)
        out = gpu.test_step(batch)
    for r, o in zip(ref, out):
        assert torch.allclose(o.pred_score.cpu(), r.pred_score, atol=1e-4)
        assert len(o.pred_instances) == len(r.pred_instances) > 0
        assert torch.allclose(o.pred_instances.scores.cpu(), r.pred_instances.scores, atol=1e-4)
        iou = (o.pred_instances.masks.cpu() & r.pred_instances.masks).sum() / \
            (o.pred_instances.masks.cpu() | r.pred_instances.masks).sum().clamp(min=1)
        assert iou > 0.99


def test_both_training_steps_on_cuda():
    torch.manual_seed(0)
    model = MODELS.build(model_cfg()).cuda()
    model.init_weights()
    model.train()
    wrapper = adam(model)
    before = copy.deepcopy(model.state_dict())
    log_vars = model.train_step(seg_batch(2), wrapper)
    assert SEG_KEYS <= set(log_vars)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values())
    assert not changed(before, model, 'classifier.')
    before = copy.deepcopy(model.state_dict())
    log_vars = model.train_step(cls_batch([0, 1, 2]), wrapper)
    assert torch.isfinite(torch.as_tensor(log_vars['slice_loss']))
    assert changed(before, model, 'classifier.')
    for frozen in ('rpn_head.', 'roi_head.bbox_head.', 'roi_head.image_bbox_head.'):
        assert not changed(before, model, frozen), frozen


def test_batched_post_processing_on_cuda_is_mmdets_per_image_one(monkeypatch):
    """The batched proposals, boxes and paste (mmdet's CUDA paste, one call for
    the batch) against mmdet's per-image post-processing, on the GPU."""
    assert_batched_post_processing_is_mmdets(monkeypatch, device='cuda')
