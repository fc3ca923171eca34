"""phantom_learnability.py: trains the plain classifier, checks its test F1."""
import json
import os.path as osp
import sys

import pytest

from tests.conftest import load_tool, run_command

TOOL = osp.join('tools', 'analysis_tools', 'phantom_learnability.py')


def _run(*args):
    return run_command([sys.executable, TOOL, *args])


def test_trains_then_passes_or_fails_on_the_test_f1(prepared_phantom, tmp_path):
    work_dir = str(tmp_path / 'check')
    options = ['--cfg-options', f'cls_data_root={prepared_phantom}', 'cls_img_scale=(64,64)',
               'train_cfg.max_epochs=1']
    # F1 is at most 1: a threshold above it fails, after a real training run
    proc = _run('--work-dir', work_dir, '--min-f1', '1.01', *options)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert 'FAILED' in proc.stdout and 'hard-blind ceiling' in proc.stdout
    with open(osp.join(work_dir, 'phantom_errors.json')) as f:
        table = json.load(f)
    assert table['checkpoint'].startswith(osp.join(work_dir, 'best_'))
    assert table['split'] == 'test' and table['slices'] > 0
    # the same run checked again without training, against a threshold it meets
    proc = _run('--work-dir', work_dir, '--skip-train', '--min-f1', '0', *options)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'passed' in proc.stdout and 'tools/train.py' not in proc.stdout


def test_names_the_work_dir_without_a_best_checkpoint(tmp_path):
    best_checkpoint = load_tool('analysis_tools/phantom_learnability.py').best_checkpoint

    with pytest.raises(FileNotFoundError, match=f'{tmp_path}: expected one best_'):
        best_checkpoint(str(tmp_path))
    (tmp_path / 'best_cls_f1_weighted_epoch_3.pth').write_bytes(b'')
    assert best_checkpoint(str(tmp_path)).endswith('best_cls_f1_weighted_epoch_3.pth')
