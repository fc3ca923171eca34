"""SyncFreeMaxIoUAssigner: mmdet's MaxIoUAssigner's assignment, element-wise."""
import pytest
import torch
from mmdet.models.task_modules.assigners import MaxIoUAssigner

from mmdet_covid.models import SyncFreeMaxIoUAssigner

SETTINGS = [
    dict(pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.0),  # the SSM's RPN
    dict(pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5),  # the SSM's RoI head
    dict(pos_iou_thr=0.5, neg_iou_thr=(0.1, 0.4), min_pos_iou=0.3),
    dict(pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0.2, gt_max_assign_all=False),
    dict(pos_iou_thr=0.5, neg_iou_thr=0.4, match_low_quality=False),
]


def _overlaps(num_gts, num_priors, seed):
    g = torch.Generator().manual_seed(seed)
    # coarse values: many ties, boxes that share their best priors, zero rows
    overlaps = (torch.rand(num_gts, num_priors, generator=g) * 10).floor() / 10
    overlaps[overlaps < 0.3] = 0
    if num_gts > 2:
        overlaps[1] = 0  # a box no prior overlaps: its best overlap is 0
        overlaps[2] = overlaps[0]  # two boxes claiming the same priors
    return overlaps


@pytest.mark.parametrize('settings', SETTINGS)
@pytest.mark.parametrize('num_gts,num_priors', [(6, 300), (1, 50), (3, 7), (0, 20), (4, 0)])
def test_same_assignment_as_mmdets(settings, num_gts, num_priors):
    ours, stock = SyncFreeMaxIoUAssigner(**settings), MaxIoUAssigner(**settings)
    for seed in range(5):
        overlaps = _overlaps(num_gts, num_priors, seed)
        labels = torch.randint(3, (num_gts, ), generator=torch.Generator().manual_seed(seed))
        got = ours.assign_wrt_overlaps(overlaps, labels)
        expected = stock.assign_wrt_overlaps(overlaps, labels)
        assert got.num_gts == expected.num_gts
        for key in ('gt_inds', 'max_overlaps', 'labels'):
            assert torch.equal(getattr(got, key), getattr(expected, key)), key
            assert getattr(got, key).dtype == getattr(expected, key).dtype, key
    if num_gts == 6:  # the cases that matter occur
        gt_inds = expected.gt_inds
        if settings.get('match_low_quality', True) and settings['min_pos_iou'] == 0.0:
            # mmdet: the box without any overlap claims every prior at its best
            # overlap, 0, i.e. all; later boxes take back their own best ones
            assert (gt_inds == 2).any() and (gt_inds == 3).any() and (gt_inds != 1).all()
        else:
            assert (gt_inds == 0).any() and (gt_inds > 0).any()


def test_no_host_reads(monkeypatch):
    """No value goes from the tensors to Python (on a GPU each would wait)."""
    for name in ('__bool__', 'item', 'tolist', 'nonzero'):
        monkeypatch.setattr(torch.Tensor, name, None)
    result = SyncFreeMaxIoUAssigner(**SETTINGS[0]).assign_wrt_overlaps(
        _overlaps(6, 300, 0), torch.zeros(6, dtype=torch.long))
    assert result.gt_inds.shape == (300, )


def test_the_ssm_configs_use_it():
    from tests.conftest import model_cfg
    train_cfg = model_cfg().train_cfg
    assert train_cfg.rpn.assigner.type == train_cfg.rcnn.assigner.type == \
        'SyncFreeMaxIoUAssigner'
