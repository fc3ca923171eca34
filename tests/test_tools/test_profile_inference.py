"""profile_inference.py --count-ops: operations and host waits, per slice and stage."""
import importlib
import json

import pytest
import torch
from mmcv.ops import batched_nms


def test_the_counter_counts_launches_and_host_waits():
    from analysis_tools.profile_inference import OpCounter  # tools/ is on sys.path

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


@pytest.mark.slow  # the tool on the SSM config's 512 x 512 slices
def test_count_ops_writes_per_slice_counts(tmp_path, capsys):
    from analysis_tools.profile_inference import STAGES, main

    whole = {}
    for batch_size in (1, 2):
        out = tmp_path / f'ops_{batch_size}.json'
        main(['--count-ops', '--batch-size', str(batch_size), '--out', str(out)])
        counts = json.loads(out.read_text())
        assert counts['batch_size'] == batch_size and not counts['training']
        ops, waits = counts['ops_per_slice'], counts['host_waits_per_slice']
        assert list(ops) == [label.strip() for label, _, _ in STAGES]
        whole[batch_size] = ops['whole forward (test_step)']
        assert whole[batch_size] > ops['backbone + neck (extract_feat)'] > 0
        assert waits['RPN: head + proposals (rpn_head.predict)'] >= 1  # its NMS
        assert 'per slice' in capsys.readouterr().out
    assert whole[2] < 0.75 * whole[1]  # batched: fewer operations per slice


@pytest.mark.slow  # the tool on the SSM config's 512 x 512 slices
def test_train_counts_a_training_iteration(tmp_path):
    from analysis_tools.profile_inference import TRAIN_STAGES, main

    out = tmp_path / 'train.json'
    main(['--count-ops', '--train', '--out', str(out)])
    ops = json.loads(out.read_text())['ops_per_slice']
    assert list(ops) == TRAIN_STAGES
    for step in ('segmentation step', 'classification step'):
        parts = [ops[f'{step}: {part}'] for part in ('forward + losses', 'backward',
                                                     'optimizer step')]
        assert all(p > 0 for p in parts) and sum(parts) == ops[f'{step}: whole']
    with pytest.raises(SystemExit):
        main(['--train'])  # counts only
