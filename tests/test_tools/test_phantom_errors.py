"""phantom_errors.py: a classifier's errors on the phantom by class and difficulty,
and the ceiling of a classifier blind to the hard slices."""
import json
import os.path as osp
import sys

import pytest

from tests.conftest import load_tool

CLASSES = ('Normal', 'CP', 'COVID-19')


def test_summary_counts_groups_and_the_hard_blind_ceiling():
    summarise = load_tool('analysis_tools/phantom_errors.py').summarise

    # 4 Normal right; CP: 2 ordinary right, 2 hard (one called Normal);
    # COVID-19: 2 ordinary (one called CP), 1 hard right
    records = [dict(label=0, pred=0, hard=False)] * 4 + [
        dict(label=1, pred=1, hard=False), dict(label=1, pred=1, hard=False),
        dict(label=1, pred=0, hard=True), dict(label=1, pred=1, hard=True),
        dict(label=2, pred=2, hard=False), dict(label=2, pred=1, hard=False),
        dict(label=2, pred=2, hard=True)]
    out = summarise(records, CLASSES)
    assert out['slices'] == 11 and out['hard_slices'] == 3
    assert out['groups'] == [
        dict(cls='Normal', hard=False, slices=4, right=4, called={}),
        dict(cls='CP', hard=False, slices=2, right=2, called={}),
        dict(cls='CP', hard=True, slices=2, right=1, called={'Normal': 1}),
        dict(cls='COVID-19', hard=False, slices=2, right=1, called={'CP': 1}),
        dict(cls='COVID-19', hard=True, slices=1, right=0 + 1, called={})]
    assert out['accuracy'] == pytest.approx(9 / 11)
    # the ceiling: every ordinary slice right, the 3 hard ones called Normal
    assert out['hard_blind_ceiling']['accuracy'] == pytest.approx(8 / 11)
    # Normal: precision 4/7, recall 1; CP: 2/2, 2/4; COVID-19: 2/2, 2/3 (weights 4, 4, 3)
    f1 = (4 * (2 * 4 / 7 / (1 + 4 / 7)) + 4 * (2 / 3) + 3 * 0.8) / 11
    assert out['hard_blind_ceiling']['f1_weighted'] == pytest.approx(f1)


def test_tool_on_a_tiny_phantom(prepared_phantom, tmp_path):
    from mmengine.config import Config

    from tests.conftest import CONFIG_DIR, run_command, save_untrained

    config, checkpoint = save_untrained(
        Config.fromfile(osp.join(CONFIG_DIR, 'baselines', 'resnet18_50e_covidx.py')),
        tmp_path, 'r18')
    out = str(tmp_path / 'errors.json')
    proc = run_command(
        [sys.executable, 'tools/analysis_tools/phantom_errors.py', config, checkpoint,
         '--out', out, '--cfg-options', f'cls_data_root={prepared_phantom}',
         'cls_img_scale=(64,64)'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as f:
        result = json.load(f)
    with open(osp.join(prepared_phantom, 'phantom.json')) as f:
        test = [s for s in json.load(f)['slices'] if s['file'].startswith('cls/test/')]
    assert result['slices'] == len(test) == sum(g['slices'] for g in result['groups'])
    assert result['hard_slices'] == sum(s['hard'] for s in test)
    wrong = result['slices'] - sum(g['right'] for g in result['groups'])
    assert len(result['slices_wrong']) == wrong
    assert 'hard-blind ceiling' in proc.stdout
