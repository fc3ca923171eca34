import importlib

import pytest
import torch
from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
from mmdet.structures.bbox import bbox2roi

from mmdet_covid.models import RoIBatchSelection

CODER = DeltaXYWHBBoxCoder(target_stds=[0.1, 0.1, 0.2, 0.2])


def _inputs(counts, size=100, seed=0):
    """Random proposals/logits for images with `counts` proposals each."""
    g = torch.Generator().manual_seed(seed)
    props = []
    for n in counts:
        xy = torch.rand(n, 2, generator=g) * size * 0.8
        wh = torch.rand(n, 2, generator=g) * size * 0.2 + 2
        props.append(torch.cat([xy, xy + wh], 1))
    rois = bbox2roi(props)
    cls_score = torch.randn(len(rois), 2, generator=g) * 3
    bbox_pred = torch.randn(len(rois), 4, generator=g) * 0.1
    return rois, cls_score, bbox_pred, [(size, size)] * len(counts)


@pytest.mark.parametrize('counts', [(3, 500), (1, 7), (300, 200)])
def test_exactly_b_rows_sorted(counts):
    sel = RoIBatchSelection(num_rois=128)
    out = sel(*_inputs(counts)[:3], CODER, _inputs(counts)[3])
    assert out.shape == (len(counts), 128, 5)
    scores = out[..., 0]
    assert torch.all(scores[:, 1:] <= scores[:, :-1]), 'rows must be in descending order'
    assert torch.all((scores > 0) & (scores <= 1))


def test_fewer_than_b_is_padded_by_repetition_in_order():
    rois, cls_score, bbox_pred, shapes = _inputs([3], size=400)
    # three far-apart boxes so that NMS keeps all of them
    rois[:, 1:] = torch.tensor([[0, 0, 10, 10], [100, 100, 120, 120], [300, 300, 330, 330.]])
    cls_score = torch.tensor([[0.0, 0.0], [2.0, 0.0], [-1.0, 0.0]])
    out = RoIBatchSelection(num_rois=8)(rois, cls_score, torch.zeros(3, 4), CODER, shapes)[0]
    probs = torch.softmax(cls_score, 1)[:, 0]
    expected_order = [1, 1, 1, 0, 0, 0, 2, 2]  # floor(j * 3 / 8)
    assert torch.allclose(out[:, 0], probs[expected_order])


def test_more_than_b_keeps_the_best_after_nms():
    rois, cls_score, bbox_pred, shapes = _inputs([400], size=1000)
    rois[:, 1:] = torch.stack([torch.arange(400.) * 2] * 2 + [torch.arange(400.) * 2 + 1] * 2, 1)
    out = RoIBatchSelection(num_rois=16)(rois, cls_score, torch.zeros_like(bbox_pred), CODER, shapes)
    best = torch.softmax(cls_score, 1)[:, 0].sort(descending=True)[0][:16]
    assert torch.allclose(out[0, :, 0], best)  # disjoint boxes: NMS removes none


def test_nms_removes_duplicates():
    rois, _, _, shapes = _inputs([2])
    rois[:, 1:] = torch.tensor([[10, 10, 50, 50], [10, 10, 50, 51.]])  # IoU > 0.75
    cls_score = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    out = RoIBatchSelection(num_rois=4)(rois, cls_score, torch.zeros(2, 4), CODER, shapes)[0]
    assert torch.allclose(out[:, 0], torch.softmax(cls_score[0], 0)[0].expand(4))


def test_deterministic_and_rows_content():
    args = _inputs((50, 20))
    sel = RoIBatchSelection(num_rois=32)
    a = sel(*args[:3], CODER, args[3])
    b = sel(*args[:3], CODER, args[3])
    assert torch.equal(a, b)
    # deltas mode: the 4 values are raw regression outputs of some proposal
    assert all(any(torch.equal(row[1:], d) for d in args[2]) for row in a[0])
    boxes = RoIBatchSelection(num_rois=32, row_content='boxes')(*args[:3], CODER, args[3])
    assert boxes[..., 1:].min() >= 0 and boxes[..., 1:].max() <= 1
    assert torch.equal(boxes[..., 0], a[..., 0])


@pytest.mark.parametrize('row_content', ['deltas', 'boxes'])
def test_score_weighted_rows_scale_the_four_values_by_the_score(row_content):
    args = _inputs((40, 9))
    plain = RoIBatchSelection(num_rois=16, row_content=row_content)(*args[:3], CODER, args[3])
    weighted = RoIBatchSelection(num_rois=16, row_content=row_content,
                                 score_weighted=True)(*args[:3], CODER, args[3])
    assert torch.equal(weighted[..., 0], plain[..., 0])
    assert torch.allclose(weighted[..., 1:], plain[..., 1:] * plain[..., :1])
    assert not torch.allclose(weighted, plain)


def test_image_without_proposals_gets_zero_rows_and_gradients_flow():
    rois, cls_score, bbox_pred, _ = _inputs([5])
    cls_score.requires_grad_(True)
    # image 0 has no proposals, image 1 has five
    rois[:, 0] = 1
    out = RoIBatchSelection(num_rois=8)(rois, cls_score, bbox_pred, CODER, [(100, 100)] * 2)
    assert torch.all(out[0] == 0) and torch.all(out[1, :, 0] > 0)
    out.sum().backward()
    assert cls_score.grad.abs().sum() > 0


@pytest.mark.parametrize('kwargs,match', [
    (dict(num_rois=0), 'num_rois'), (dict(num_rois=2.5), 'num_rois'),
    (dict(row_content='xywh'), 'row_content'), (dict(nms_iou=0), 'nms_iou')])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RoIBatchSelection(**kwargs)


@pytest.mark.parametrize('counts', [(0, ), (0, 5), (5, 0)])
def test_images_without_proposals_get_zero_rows(counts):
    """A diverged model can leave an image without any proposal: S still
    gets a defined input (zero rows) instead of a reshape error."""
    rois, cls_score, bbox_pred, shapes = _inputs(counts)
    out = RoIBatchSelection(num_rois=16)(rois, cls_score, bbox_pred, CODER, shapes)
    assert out.shape == (len(counts), 16, 5)
    for i, n in enumerate(counts):
        assert (out[i] == 0).all() == (n == 0)


@pytest.mark.parametrize('num_cls', [1, 2])
def test_a_batch_gives_each_image_its_own_rows(num_cls):
    """The batch's NMS keeps images (and classes) apart: every image of a batch
    gets the rows it gets alone, although boxes of different images overlap."""
    counts = (300, 40, 250)
    rois, _, _, shapes = _inputs(counts)
    g = torch.Generator().manual_seed(1)
    cls_score = torch.randn(len(rois), num_cls + 1, generator=g) * 3
    bbox_pred = torch.randn(len(rois), 4 * num_cls, generator=g) * 0.1
    sel = RoIBatchSelection(num_rois=64)
    batch = sel(rois, cls_score, bbox_pred, CODER, shapes)
    for i in range(len(counts)):
        own = rois[:, 0] == i
        alone = sel(rois[own] * torch.tensor([0., 1, 1, 1, 1]), cls_score[own], bbox_pred[own],
                    CODER, shapes[i:i + 1])
        assert torch.equal(batch[i], alone[0])


@pytest.mark.parametrize('row_content', ['deltas', 'boxes'])
@pytest.mark.parametrize('counts', [(300, 40), (0, 50)])
def test_gather_of_the_chosen_subset_equals_forward(row_content, counts):
    """select + gather over just the chosen proposals gives forward's rows (what the
    classification step runs with gradients); an image without proposals: zeros."""
    rois, _, _, shapes = _inputs(counts)
    g = torch.Generator().manual_seed(2)
    cls_score = torch.randn(len(rois), 3, generator=g) * 3  # two classes
    bbox_pred = torch.randn(len(rois), 8, generator=g) * 0.1
    sel = RoIBatchSelection(num_rois=64, row_content=row_content, score_weighted=True)
    proposal, label, found = sel.select(rois, cls_score, bbox_pred, CODER, shapes)
    assert found.tolist() == [n > 0 for n in counts]
    chosen, inverse = torch.unique(proposal, return_inverse=True)
    assert len(chosen) < len(rois)
    rows = sel.gather(rois[chosen], cls_score[chosen], bbox_pred[chosen], CODER, shapes,
                      inverse, label, found)
    assert torch.equal(rows, sel(rois, cls_score, bbox_pred, CODER, shapes))


@pytest.mark.parametrize('num_cls', [1, 2])
def test_nms_runs_once_per_image(monkeypatch, num_cls):
    """One mmcv NMS call per image, on its own candidates, classes kept apart by
    their labels (one class: no offsets at all); never one call over the batch,
    whose offsets would round the coordinates of all images but the first."""
    module = importlib.import_module('mmdet_covid.models.utils.nms_per_image')
    seen = []
    real = module.batched_nms
    monkeypatch.setattr(module, 'batched_nms', lambda *a, **k: seen.append(a) or
                        real(*a, **k))
    counts = (50, 30)
    rois, _, _, shapes = _inputs(counts)
    g = torch.Generator().manual_seed(3)
    cls_score = torch.randn(len(rois), num_cls + 1, generator=g)
    bbox_pred = torch.randn(len(rois), 4 * num_cls, generator=g) * 0.1
    out = RoIBatchSelection(num_rois=16)(rois, cls_score, bbox_pred, CODER, shapes)
    assert out.shape == (2, 16, 5)
    assert [len(boxes) for boxes, *_ in seen] == [n * num_cls for n in counts]
    for boxes, _, idxs, cfg in seen:
        assert boxes.max() <= 100  # within the 100x100 image: no offsets
        assert cfg == dict(type='nms', iou_threshold=0.75, **(
            dict(class_agnostic=True) if num_cls == 1 else {}))
        assert set(idxs.tolist()) == set(range(num_cls))


def test_no_valid_prediction_gives_exact_zeros():
    """NaN logits (a diverged model) leave no valid prediction: zero rows, not NaN."""
    rois, cls_score, bbox_pred, shapes = _inputs((5, 5))
    sel = RoIBatchSelection(num_rois=8)
    cls_score[:5] = float('nan')  # image 0 only: its rows zero, image 1's intact
    out = sel(rois, cls_score, bbox_pred, CODER, shapes)
    assert torch.equal(out[0], torch.zeros(8, 5)) and (out[1, :, 0] > 0).all()
    cls_score[:] = float('nan')  # the whole batch
    assert torch.equal(sel(rois, cls_score, bbox_pred, CODER, shapes), torch.zeros(2, 8, 5))
