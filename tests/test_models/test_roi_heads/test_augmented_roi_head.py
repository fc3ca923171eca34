"""AugmentedRoIHead: the stock RoI-head paths (and their guards) give the instances;
the image branch reads the same RoI features for the RoI batch of S."""
import pytest
import torch
from mmdet.models.detectors import TwoStageDetector
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2roi
from mmengine.structures import InstanceData

from tests.conftest import model_cfg, seg_batch


@pytest.fixture(scope='module', params=[True, False], ids=['augmented', 'base'])
def parts(request):
    """(model, features, proposals, samples) of a random-weight SSM in eval mode."""
    torch.manual_seed(0)
    model = MODELS.build(model_cfg(roi_head=dict(augmented=request.param)))
    model.init_weights()
    model.eval()
    model.roi_head.test_cfg.score_thr = 0.0  # random weights score about 0.5
    data = model.data_preprocessor(seg_batch(2, size=128), False)
    samples = data['data_samples']
    with torch.no_grad():
        x = model.extract_feat(data['inputs'])
        proposals = model.rpn_head.predict(x, samples, rescale=False)
    return model, x, proposals, samples


def _same(a: InstanceData, b: InstanceData) -> None:
    assert len(a) == len(b)
    for key in ('bboxes', 'scores', 'labels', 'masks'):
        torch.testing.assert_close(a.get(key), b.get(key), rtol=0, atol=0)


def _kept_roi_batch(head, run, samples):
    with head.keeping_box_forward() as kept:
        out = run()
    assert head._kept is None  # nothing kept after the pass
    return out, head.roi_batch_from_kept(kept, [s.metainfo for s in samples])


@torch.no_grad()
def test_the_kept_box_forward_gives_the_image_branch_roi_batch(parts):
    model, x, proposals, samples = parts
    head = model.roi_head
    metas = [s.metainfo for s in samples]
    results, roi_batch = _kept_roi_batch(
        head, lambda: head.predict(x, proposals, samples, rescale=True), samples)
    for got, expected in zip(results, StandardRoIHead.predict(head, x, proposals, samples,
                                                              rescale=True)):
        _same(got, expected)  # keeping changes nothing
    # the same batch as a separate RoIAlign + image-branch pass (the classification step)
    torch.testing.assert_close(roi_batch, head.roi_batch(x, proposals, metas))
    outs, roi_batch = _kept_roi_batch(head, lambda: head.forward(x, proposals, samples),
                                      samples)
    torch.testing.assert_close(roi_batch, head.roi_batch(x, proposals, metas))


@torch.no_grad()
def test_detector_predict_is_the_stock_one_plus_the_slice_class(parts):
    model, x, proposals, samples = parts
    data = model.data_preprocessor(seg_batch(2, size=128), False)
    got = model.predict(data['inputs'], data['data_samples'])
    fresh = model.data_preprocessor(seg_batch(2, size=128), False)['data_samples']
    stock = TwoStageDetector.predict(model, data['inputs'], fresh)
    for a, b in zip(got, stock):
        _same(a.pred_instances, b.pred_instances)
        assert a.pred_score.shape == (3, ) and 'pred_score' not in b
    metas = [s.metainfo for s in samples]
    expected = model.classifier.predict(model.roi_head.roi_batch(x, proposals, metas))
    torch.testing.assert_close(torch.stack([s.pred_score for s in got]), expected)


@torch.no_grad()
def test_images_without_proposals_take_the_stock_guard(parts):
    model, x, proposals, samples = parts
    head = model.roi_head
    empty = InstanceData(bboxes=proposals[0].bboxes[:0], scores=proposals[0].scores[:0],
                         labels=proposals[0].labels[:0])
    # one image without proposals, then none at all
    for rpn in ([proposals[0], empty], [empty, empty]):
        results, roi_batch = _kept_roi_batch(
            head, lambda: head.predict(x, rpn, samples, rescale=True), samples)
        assert len(results[1]) == 0 and results[1].masks.shape[1:] == (128, 128)
        assert roi_batch.shape == (2, head.roi_batch_selection.num_rois, 5)
        assert torch.all(roi_batch[1] == 0)
        torch.testing.assert_close(roi_batch, head.roi_batch(x, rpn,
                                                              [s.metainfo for s in samples]))


@pytest.mark.parametrize('row_content', ['deltas', 'boxes'])
def test_roi_batch_with_gradients_runs_the_chosen_proposals_again(parts, row_content):
    """Where the features need gradients, the RoI batch comes from a second pass over
    the chosen proposals alone: the same rows and the same gradients as the image branch
    over all proposals with autograd (float rounding: products over fewer rows)."""
    model, x, proposals, samples = parts
    head = model.roi_head
    metas = [s.metainfo for s in samples]
    feats = tuple(f.detach().requires_grad_(True) for f in x)
    rois = bbox2roi([p.bboxes for p in proposals])
    passes = []
    head.roi_batch_selection.row_content = row_content
    num_chosen = len(torch.unique(_chosen(head, feats, rois, metas)))
    assert num_chosen <= 2 * head.roi_batch_selection.num_rois < len(rois)
    hook = head.image_head.register_forward_hook(lambda m, i, o: passes.append(len(i[0])))
    try:
        fast = head.roi_batch(feats, proposals, metas)
        weights = torch.rand(fast.shape, generator=torch.Generator().manual_seed(0))
        fast_grad, = torch.autograd.grad((fast * weights).sum(), feats)
        assert passes == [len(rois), num_chosen]  # all proposals, then the chosen ones
        full = head._select(rois, *head._image_forward(head._box_features(feats, rois)), metas)
        full_grad, = torch.autograd.grad((full * weights).sum(), feats)
        with torch.no_grad():
            plain = head.roi_batch(x, proposals, metas)
    finally:
        head.roi_batch_selection.row_content = 'deltas'
        hook.remove()
    torch.testing.assert_close(fast, full, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(plain, full, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fast_grad, full_grad, rtol=1e-4, atol=1e-6)
    assert fast_grad.abs().sum() > 0


@torch.no_grad()
def _chosen(head, feats, rois, metas) -> torch.Tensor:
    """The proposals the RoI batch reads."""
    cls_score, bbox_pred = head._image_forward(head._box_features(feats, rois))
    return head.roi_batch_selection.select(rois, cls_score, bbox_pred, head.image_head.bbox_coder,
                                           [m['img_shape'] for m in metas])[0]
