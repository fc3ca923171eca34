"""AugmentedRoIHead: the stock RoI-head paths (and their guards) give the instances;
the image branch reads the same RoI features for the RoI batch of S."""
import pytest
import torch
from mmdet.models.detectors import TwoStageDetector
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2roi, bbox_overlaps
from mmengine.config import ConfigDict
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


@torch.no_grad()
def test_a_block_without_one_box_forward_is_an_error(parts):
    model, x, proposals, samples = parts
    head = model.roi_head
    metas = [s.metainfo for s in samples]
    with head.keeping_box_forward() as kept:
        pass  # nothing ran
    with pytest.raises(RuntimeError, match='box forward ran 0 times'):
        head.roi_batch_from_kept(kept, metas)
    with head.keeping_box_forward() as kept:
        for one in proposals:  # a path that runs the box forward per image
            head._bbox_forward(x, bbox2roi([one.bboxes]))
    with pytest.raises(RuntimeError, match='ran 2 times.*expected once'):
        head.roi_batch_from_kept(kept, metas)


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


def _box_case(bbox_head: dict, counts):
    """(RoI head, features, proposals, metas) of three images with ``counts``
    proposals: an untrained head whose scores are spread and boxes moved, images
    of their own shapes and scale factors."""
    torch.manual_seed(0)
    model = MODELS.build(model_cfg(roi_head=dict(bbox_head=bbox_head)))
    model.init_weights()
    model.eval()
    head = model.roi_head
    with torch.no_grad():
        head.bbox_head.fc_cls.weight.mul_(300)  # spread the scores of the untrained head
        if head.bbox_head.with_reg:
            head.bbox_head.fc_reg.weight.mul_(3000)  # and move its boxes
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(len(counts), 256, 16, 16, generator=g), )
    proposals = []
    for n in counts:
        xy = torch.rand(n, 2, generator=g) * 200
        proposals.append(InstanceData(bboxes=torch.cat(
            [xy, xy + 8 + torch.rand(n, 2, generator=g) * 60], 1)))
    metas = [dict(img_shape=(256, 256), scale_factor=(1.0, 1.0)),
             dict(img_shape=(200, 256), scale_factor=(0.5, 0.8)),
             dict(img_shape=(256, 180), scale_factor=(2.0, 1.5))][:len(counts)]
    return head, x, proposals, metas


@pytest.mark.parametrize('rescale', [False, True])
@pytest.mark.parametrize('bbox_head', [dict(), dict(num_classes=2),
                                       dict(num_classes=2, reg_class_agnostic=True)],
                         ids=['one-class', 'two-classes', 'class-agnostic-boxes'])
@torch.no_grad()
def test_box_predictions_are_mmdets_per_image_ones(monkeypatch, bbox_head, rescale):
    """The batched post-processing gives mmdet's detections, in the same order:
    images clipped to their own shapes and rescaled by their own factors, one
    without proposals, a score threshold and max_per_img that bind."""
    head, x, proposals, metas = _box_case(bbox_head, (60, 0, 45))
    for max_per_img in (20, 200):  # binding, and not
        cfg = ConfigDict(score_thr=0.3, nms=dict(type='nms', iou_threshold=0.5),
                         max_per_img=max_per_img)
        expected = StandardRoIHead.predict_bbox(head, x, metas, proposals, cfg, rescale)
        with monkeypatch.context() as patch:
            patch.setattr(type(head.bbox_head), 'predict_by_feat', None)  # not called
            got = head.predict_bbox(x, metas, proposals, cfg, rescale)
        assert [len(r) for r in got] == [len(r) for r in expected]
        assert len(got[1]) == 0 and 0 < len(got[2]) <= len(got[0]) <= max_per_img
        for a, b in zip(got, expected):
            for key in ('bboxes', 'scores', 'labels'):
                assert torch.equal(a.get(key), b.get(key)), key
    assert len(got[0]) > 20
    if bbox_head.get('reg_class_agnostic'):  # one box, two classes: the NMS kept them apart
        overlap = bbox_overlaps(got[0].bboxes, got[0].bboxes)
        assert (overlap[got[0].labels[:, None] != got[0].labels[None]] > 0.5).any()


TEST_CFG = ConfigDict(score_thr=0.3, nms=dict(type='nms', iou_threshold=0.5), max_per_img=20)


def _count_batched(monkeypatch, head) -> list:
    """The calls of the batched post-processing, recorded."""
    calls = []
    real = type(head)._post_process_boxes

    def spy(self, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)
    monkeypatch.setattr(type(head), '_post_process_boxes', spy)
    return calls


@pytest.mark.parametrize('rescale', [False, True])
@torch.no_grad()
def test_the_stock_fallback_gives_the_batched_detections(monkeypatch, rescale):
    """A box type the batched path does not cover goes to mmdet's post-processing;
    on boxes both can take, the same detections as the batched path."""
    head, x, proposals, metas = _box_case(dict(), (60, 45))
    calls = _count_batched(monkeypatch, head)
    batched = head.predict_bbox(x, metas, proposals, TEST_CFG, rescale)
    assert calls == [1]
    head.bbox_head.predict_box_type = 'rbox'  # only decides empty results' box width
    fallback = head.predict_bbox(x, metas, proposals, TEST_CFG, rescale)
    assert calls == [1]  # not taken again
    assert [len(r) for r in fallback] == [len(r) for r in batched] == [20, 20]
    for a, b in zip(fallback, batched):
        for key in ('bboxes', 'scores', 'labels'):
            assert torch.equal(a.get(key), b.get(key)), key


@torch.no_grad()
def test_what_the_batched_path_does_not_cover_is_post_processed_as_mmdet_does(monkeypatch):
    """No test config (test-time augmentation): every RoI's raw boxes and class
    scores. No box regression: the proposals themselves. No proposal in any image:
    empty detections."""
    head, x, proposals, metas = _box_case(dict(), (60, 45))
    calls = _count_batched(monkeypatch, head)
    raw = head.predict_bbox(x, metas, proposals, None)
    assert [r.bboxes.shape for r in raw] == [(60, 4), (45, 4)]
    assert [r.scores.shape for r in raw] == [(60, 2), (45, 2)]  # lesion, background
    torch.testing.assert_close(raw[0].scores.sum(1), torch.ones(60))
    assert raw[1].bboxes[:, 2].max() <= 256 and raw[1].bboxes[:, 3].max() <= 200

    empty = [InstanceData(bboxes=torch.zeros(0, 4)) for _ in range(2)]
    for res in head.predict_bbox(x, metas, empty, TEST_CFG):
        assert res.bboxes.shape == (0, 4) and len(res.scores) == len(res.labels) == 0

    head, x, proposals, metas = _box_case(dict(with_reg=False), (60, 45))
    calls += _count_batched(monkeypatch, head)
    cfg = ConfigDict(TEST_CFG, max_per_img=200)
    results = head.predict_bbox(x, metas, proposals, cfg)
    for res, props in zip(results, proposals):
        assert 0 < len(res) < len(props) and torch.all(res.scores > 0.3)
        # each detection is one of the proposals (mmdet 3.3 means to clip them, but
        # clamps an indexed copy: they stay as they were)
        assert (res.bboxes[:, None] == props.bboxes[None]).all(-1).any(1).all()
    assert results[1].bboxes[:, 3].max() > 200  # beyond the second image's height
    assert calls == []
