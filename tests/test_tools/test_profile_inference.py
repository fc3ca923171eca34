"""profile_inference.py --count-ops: operations and host waits, per slice and stage, as
JSON (the counter itself: tests/test_utils/test_op_counter.py)."""
import json

import pytest

from mmdet_covid.utils.forward_stages import STAGES
from mmdet_covid.utils.op_counter import TRAIN_STAGES
from tests.conftest import load_tool

profile_inference = load_tool('analysis_tools/profile_inference.py')


@pytest.mark.slow  # the tool on the SSM config's 512 x 512 slices
def test_count_ops_writes_per_slice_counts(tmp_path, capsys):
    whole = {}
    for batch_size in (1, 2):
        out = tmp_path / f'ops_{batch_size}.json'
        profile_inference.main(['--count-ops', '--batch-size', str(batch_size), '--out',
                                str(out)])
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
    out = tmp_path / 'train.json'
    profile_inference.main(['--count-ops', '--train', '--out', str(out)])
    ops = json.loads(out.read_text())['ops_per_slice']
    assert list(ops) == TRAIN_STAGES
    for step in ('segmentation step', 'classification step'):
        parts = [ops[f'{step}: {part}'] for part in ('forward + losses', 'backward',
                                                     'optimizer step')]
        assert all(p > 0 for p in parts) and sum(parts) == ops[f'{step}: whole']
    with pytest.raises(SystemExit):
        profile_inference.main(['--train'])  # counts only
