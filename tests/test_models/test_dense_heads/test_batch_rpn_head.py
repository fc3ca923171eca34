"""BatchRPNHead: the stock RPNHead's proposals, post-processed for the whole batch;
its convolutions in bfloat16 where the detector's cpu_bf16 says."""
import pytest
import torch
from mmdet.models.dense_heads import RPNHead
from mmdet.registry import MODELS
from mmengine.config import ConfigDict

from mmdet_covid.models import BatchRPNHead
from tests.conftest import model_cfg, needs_bf16


def _heads(test_cfg, **overrides):
    cfg = dict(model_cfg().rpn_head, type='BatchRPNHead', train_cfg=None,
               test_cfg=ConfigDict(test_cfg), **overrides)
    torch.manual_seed(0)
    head = MODELS.build(cfg)
    stock = MODELS.build(dict(cfg, type='RPNHead'))
    stock.load_state_dict(head.state_dict())
    return head.eval(), stock.eval()


def _features(num_imgs, sizes=(16, )):
    torch.manual_seed(1)
    feats = []
    for size in sizes:
        x = torch.randn(num_imgs, 256, size, size)
        x[:, :, :size // 2, :size // 2] = 0.3  # a flat region: many equal scores
        feats.append(x)
    return tuple(feats)


def _metas(shapes, scales):
    return [dict(img_shape=shape, scale_factor=scale) for shape, scale in zip(shapes, scales)]


def _assert_stock(head, stock, feats, metas, rescale):
    outs = head(feats)
    got = head.predict_by_feat(*outs, batch_img_metas=metas, rescale=rescale)
    expected = stock.predict_by_feat(*outs, batch_img_metas=metas, rescale=rescale)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert a.bboxes.shape == b.bboxes.shape and a.bboxes.shape[1:] == (4, )
        assert torch.equal(a.bboxes, b.bboxes) and torch.equal(a.scores, b.scores)
        assert a.labels.dtype == torch.long and not a.labels.any()
    return got


RPN_TEST = dict(nms_pre=2000, max_per_img=300, nms=dict(type='nms', iou_threshold=0.75),
                min_bbox_size=0)


@pytest.mark.parametrize('rescale', [False, True])
@pytest.mark.parametrize('test_cfg', [
    RPN_TEST,
    dict(RPN_TEST, nms_pre=100000),  # fewer anchors than nms_pre: no sort
    dict(RPN_TEST, min_bbox_size=20),  # small boxes dropped, more in some images
    dict(RPN_TEST, min_bbox_size=-1),  # no size filter
], ids=['ssm', 'no-pre-sort', 'min-size', 'no-filter'])
def test_proposals_are_the_stock_ones(test_cfg, rescale):
    head, stock = _heads(test_cfg)
    shapes = [(256, 256), (200, 256), (256, 180)]  # each image clipped to its own
    got = _assert_stock(head, stock, _features(3), _metas(shapes, [(1.0, 1.0), (0.5, 0.8),
                                                                   (2.0, 2.0)]), rescale)
    if test_cfg['min_bbox_size'] < 20:
        assert [len(r) for r in got] == [300] * 3  # max_per_img reached


def test_several_levels_keep_their_nms_apart():
    head, stock = _heads(RPN_TEST, anchor_generator=dict(
        type='AnchorGenerator', scales=[2, 8], ratios=[0.5, 1.0, 2.0], strides=[8, 16]))
    _assert_stock(head, stock, _features(2, sizes=(32, 16)),
                  _metas([(256, 256)] * 2, [(1.0, 1.0)] * 2), rescale=False)


def test_no_box_left_gives_empty_proposals():
    head, stock = _heads(dict(RPN_TEST, min_bbox_size=1000))
    got = _assert_stock(head, stock, _features(2), _metas([(256, 256)] * 2,
                                                           [(1.0, 1.0)] * 2), False)
    assert all(len(r) == 0 for r in got)


def test_the_stock_per_image_path_is_not_taken(monkeypatch):
    """The stock proposals, computed without mmdet's per-image post-processing."""
    head, stock = _heads(RPN_TEST)
    assert isinstance(head, BatchRPNHead)
    outs = head(_features(2))
    metas = _metas([(256, 256)] * 2, [(1.0, 1.0)] * 2)
    expected = stock.predict_by_feat(*outs, batch_img_metas=metas)

    def per_image(*args, **kwargs):
        raise AssertionError('post-processed image by image')
    monkeypatch.setattr(RPNHead, '_predict_by_feat_single', per_image)
    results = head.predict_by_feat(*outs, batch_img_metas=metas)
    assert [len(r) for r in results] == [300, 300]  # max_per_img reached
    for a, b in zip(results, expected):
        assert torch.equal(a.bboxes, b.bboxes) and torch.equal(a.scores, b.scores)


@torch.no_grad()
def test_the_top_proposal_is_the_anchor_scored_highest():
    """Hand-made head outputs, one anchor of each image scored high and no box deltas:
    each image's first proposal is that anchor, clipped to its image, with its score."""
    head, _ = _heads(RPN_TEST)
    num_anchors, h, w = head.num_base_priors, 16, 16
    shapes = [(256, 256), (200, 256)]
    picks = [(3, 4, 5), (29, 12, 2)]  # (anchor, row, column); the second crosses y = 200
    cls_score = torch.full((2, num_anchors, h, w), -5.0)
    for i, (a, y, x) in enumerate(picks):
        cls_score[i, a, y, x] = 5.0
    bbox_pred = torch.zeros(2, num_anchors * 4, h, w)
    results = head.predict_by_feat([cls_score], [bbox_pred],
                                   batch_img_metas=_metas(shapes, [(1.0, 1.0)] * 2))
    anchors = head.prior_generator.grid_priors([(h, w)], device='cpu')[0]  # (y, x, anchor)
    for res, (a, y, x), (img_h, img_w) in zip(results, picks, shapes):
        box = anchors[(y * w + x) * num_anchors + a]
        expected = torch.stack([box[0].clamp(0, img_w), box[1].clamp(0, img_h),
                                box[2].clamp(0, img_w), box[3].clamp(0, img_h)])
        torch.testing.assert_close(res.bboxes[0], expected)
        assert len(res) == 300 and res.scores[0] == torch.tensor(5.0).sigmoid()
        assert torch.all(res.scores[1:] == torch.tensor(-5.0).sigmoid())
    assert results[1].bboxes[0, 3] == 200 < anchors[(12 * w + 2) * num_anchors + 29, 3]


@pytest.mark.parametrize('max_per_img', [0, -1])
def test_max_per_img_below_one_is_refused(max_per_img):
    """mmdet's RPN slices ``[:max_per_img]``: 0 keeps nothing, -1 drops the last one."""
    head, _ = _heads(dict(RPN_TEST, max_per_img=max_per_img))
    with pytest.raises(ValueError, match=rf"BatchRPNHead: the RPN's max_per_img must be >= 1 "
                       rf".*got {max_per_img}"):
        head.predict_by_feat(*head(_features(1)), batch_img_metas=_metas([(256, 256)],
                                                                         [(1.0, 1.0)]))


def _detector_heads(mode):
    """The RPN head of a detector whose ``cpu_bf16`` (the one precision switch) is
    ``mode``, and a stock RPNHead with the same weights."""
    torch.manual_seed(0)
    detector = MODELS.build(model_cfg(cpu_bf16=mode, channels_last=False))
    head = detector.rpn_head
    assert type(head) is BatchRPNHead
    stock = MODELS.build(dict(model_cfg().rpn_head, type='RPNHead', train_cfg=None,
                              test_cfg=None))
    stock.load_state_dict(head.state_dict())  # same keys, strict
    return head, stock


def _conv_dtypes(head):
    seen = []
    head.rpn_conv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    return seen


def test_off_is_the_stock_forward():
    head, stock = _detector_heads('off')
    seen = _conv_dtypes(head)
    x = (torch.randn(1, 256, 8, 8), )
    for a, b in zip(head(x), stock(x)):
        assert torch.equal(a[0], b[0])
    assert seen == [torch.float32]


@needs_bf16
def test_inference_mode_computes_in_bf16_at_eval_only():
    head, stock = _detector_heads('inference')
    seen = _conv_dtypes(head)
    x = (torch.randn(2, 256, 8, 8), )
    head.eval()
    scores, deltas = head(x)
    ref_scores, ref_deltas = stock(x)
    assert seen == [torch.bfloat16]
    assert scores[0].dtype == deltas[0].dtype == torch.float32
    torch.testing.assert_close(scores[0], ref_scores[0], atol=0.05, rtol=0.02)
    torch.testing.assert_close(deltas[0], ref_deltas[0], atol=0.05, rtol=0.02)
    assert not torch.equal(scores[0], ref_scores[0])  # really rounded
    head.train()
    assert torch.equal(head(x)[0][0], stock(x)[0][0]) and seen[-1] == torch.float32


@needs_bf16
def test_always_mode_trains_in_bf16():
    head, _ = _detector_heads('always')
    seen = _conv_dtypes(head)
    head.train()
    scores, deltas = head((torch.randn(1, 256, 8, 8), ))
    (scores[0].sum() + deltas[0].sum()).backward()
    assert seen == [torch.bfloat16]
    assert head.rpn_conv.weight.grad.dtype == torch.float32
    assert head.rpn_conv.weight.grad.abs().sum() > 0


def test_the_head_takes_no_precision_option():
    """The detector's cpu_bf16 is the one switch; a head built alone computes in float32."""
    cfg = dict(model_cfg().rpn_head, train_cfg=None, test_cfg=None)
    with pytest.raises(TypeError, match='cpu_bf16'):
        MODELS.build(dict(cfg, cpu_bf16='always'))
    head = MODELS.build(cfg).train()
    seen = _conv_dtypes(head)
    head((torch.randn(1, 256, 8, 8), ))
    assert head.cpu_bf16 == 'off' and seen == [torch.float32]


@needs_bf16
def test_the_detector_switch_reaches_the_head_and_leaves_a_stock_one_alone():
    detector = MODELS.build(model_cfg(cpu_bf16='inference')).eval()
    seen = _conv_dtypes(detector.rpn_head)
    x = (torch.randn(1, 256, 8, 8), )
    detector.rpn_head(x)
    detector.cpu_bf16 = 'off'  # assigned after building, as compare_precision.py does
    detector.rpn_head(x)
    detector.cpu_bf16 = 'always'
    detector.rpn_head(x)
    assert seen == [torch.bfloat16, torch.float32, torch.bfloat16]
    stock = MODELS.build(model_cfg(rpn_head=dict(type='RPNHead'), cpu_bf16='always')).train()
    seen = _conv_dtypes(stock.rpn_head)
    stock.rpn_head(x)
    assert type(stock.rpn_head) is RPNHead and not hasattr(stock.rpn_head, 'cpu_bf16')
    assert seen == [torch.float32]
