"""mmdet_covid.utils.op_counter: operations dispatched and host waits, per stage and
slice, in inference and in a training iteration."""
import importlib

import pytest
import torch
from mmcv.ops import batched_nms

from mmdet_covid.utils.forward_stages import STAGES
from mmdet_covid.utils.op_counter import TRAIN_STAGES, OpCounter, count_ops, count_train_ops
from tests.conftest import cls_batch, seg_batch, untrained_ssm


def test_the_counter_counts_launches_and_host_waits():
    x = torch.rand(50)
    boxes = torch.cat([torch.rand(50, 2) * 50, torch.rand(50, 2) * 50 + 60], 1)
    with OpCounter() as counter, counter.stage('a'):
        y = x * 2  # one operation
        y.view(5, 10).t()  # views: no kernel
        with counter.stage('b'):
            y.nonzero()  # a wait
            y[y > 1]  # a comparison, and a boolean-mask index: a wait
            y.tolist()  # a wait
            int(y[0])  # the select is a view; item: a wait
        with counter.stage('nms'):
            batched_nms(boxes, x, torch.zeros(50, dtype=torch.long),
                        dict(type='nms', iou_threshold=0.5, class_agnostic=True))
    assert (counter.ops['b'], counter.syncs['b']) == (5, 4)
    with OpCounter() as counts, counts.stage('c'):
        torch.bincount(torch.tensor([0, 2]))  # CUDA's reads its range back
    assert counts.syncs['c'] == 1
    # the NMS kernel is one operation and one wait, whatever it is made of on a CPU
    assert counter.syncs['nms'] == 1 and counter.ops['nms'] < 10
    assert counter.ops['a'] == 1 + counter.ops['b'] + counter.ops['nms']
    assert counter.syncs['a'] == counter.syncs['b'] + counter.syncs['nms']
    assert 'tolist' not in vars(torch.Tensor)  # Tensor's own tolist again on exit
    with pytest.raises(RuntimeError), OpCounter():
        raise RuntimeError('a failing forward')
    assert 'tolist' not in vars(torch.Tensor) and x.tolist() == [float(v) for v in x]
    ext = importlib.import_module('mmcv.ops.nms').ext_module
    assert ext.nms.__name__ == 'nms'  # mmcv's kernel again


def test_count_ops_gives_every_stage_per_slice_and_batching_saves_operations():
    whole = {}
    for batch_size in (1, 2):
        counts = count_ops(untrained_ssm(), seg_batch(batch_size), batch_size)
        assert list(counts) == [label for label, _, _ in STAGES]
        ops = {label: n for label, (n, _) in counts.items()}
        whole[batch_size] = ops['whole forward (test_step)']
        assert all(0 < n <= whole[batch_size] for n in ops.values())
        assert counts['  RPN: head + proposals (rpn_head.predict)'][1] >= 1  # its NMS
    assert whole[2] < 0.75 * whole[1]  # batched: fewer operations per slice


def test_count_train_ops_splits_each_step_into_its_parts():
    counts = count_train_ops(untrained_ssm(), seg_batch(2), cls_batch([0, 2]), 2)
    assert list(counts) == TRAIN_STAGES
    for step in ('segmentation step', 'classification step'):
        parts = [counts[f'{step}: {part}'] for part in ('forward + losses', 'backward',
                                                        'optimizer step')]
        assert all(ops > 0 for ops, _ in parts)
        assert sum(ops for ops, _ in parts) == counts[f'{step}: whole'][0]
        assert sum(waits for _, waits in parts) == counts[f'{step}: whole'][1]
