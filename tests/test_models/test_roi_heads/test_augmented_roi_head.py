"""AugmentedRoIHead: the stock RoI-head paths (and their guards) give the instances;
the image branch reads the same RoI features for the RoI batch of S."""
import pytest
import torch
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.registry import MODELS
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


@torch.no_grad()
def test_instances_are_the_stock_ones_and_the_roi_batch_the_image_branch_one(parts):
    model, x, proposals, samples = parts
    head = model.roi_head
    results, roi_batch = head.predict_with_roi_batch(x, proposals, samples, rescale=True)
    stock = StandardRoIHead.predict(head, x, proposals, samples, rescale=True)
    for got, expected in zip(results, stock):
        _same(got, expected)
    torch.testing.assert_close(roi_batch, head.roi_batch(x, proposals,
                                                          [s.metainfo for s in samples]))
    assert head._kept is None  # nothing kept after the pass


@torch.no_grad()
def test_tensor_mode_outputs_are_the_stock_ones(parts):
    model, x, proposals, samples = parts
    head = model.roi_head
    outs, roi_batch = head.forward_with_roi_batch(x, proposals, samples)
    for got, expected in zip(outs, StandardRoIHead.forward(head, x, proposals, samples)):
        torch.testing.assert_close(got, expected)
    torch.testing.assert_close(roi_batch, head.roi_batch(x, proposals,
                                                          [s.metainfo for s in samples]))


@torch.no_grad()
def test_images_without_proposals_take_the_stock_guard(parts):
    model, x, proposals, samples = parts
    head = model.roi_head
    empty = InstanceData(bboxes=proposals[0].bboxes[:0], scores=proposals[0].scores[:0],
                         labels=proposals[0].labels[:0])
    # one image without proposals, then none at all
    for rpn in ([proposals[0], empty], [empty, empty]):
        results, roi_batch = head.predict_with_roi_batch(x, rpn, samples, rescale=True)
        assert len(results[1]) == 0 and results[1].masks.shape[1:] == (128, 128)
        assert roi_batch.shape == (2, head.roi_batch_selection.num_rois, 5)
        assert torch.all(roi_batch[1] == 0)
        if len(rpn[0]):
            _same(results[0], StandardRoIHead.predict(head, x, rpn, samples, rescale=True)[0])
