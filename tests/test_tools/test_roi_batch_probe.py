"""tools/analysis_tools/roi_batch_probe.py: its read-outs on constructed RoI batches (a
class written into the rows must be found), and the tool on a tiny phantom."""
import json
import sys

import numpy as np
import pytest

from tests.conftest import load_tool, run_command, save_untrained, tiny_ssm_cfg

roi_batch_probe = load_tool('analysis_tools/roi_batch_probe.py')

CLASSES = ('Normal', 'CP', 'COVID-19')


def _batches(labels, rows: int = 4, seed: int = 0) -> np.ndarray:
    """``(N, rows, 5)`` RoI batches that carry the slice's class ``k``: every row
    scores ``k`` and has 1 in value ``k + 1``, plus noise (sd 0.1)."""
    labels = np.asarray(labels)
    x = np.random.default_rng(seed).normal(0, 0.1, (len(labels), rows, 5))
    x[..., 0] += labels[:, None]
    x[np.arange(len(labels)), :, labels + 1] += 1
    return x.astype(np.float32)


def test_score_stats_by_hand():
    scores = np.array([np.linspace(0.9, 0.0, 12), np.linspace(0.7, 0.15, 12),
                       np.full(12, 0.6)])  # rows in descending score order
    batches = np.concatenate([scores[..., None], np.zeros((3, 12, 4))], -1)
    stats = roi_batch_probe.score_stats(batches, np.array([0, 0, 2]), CLASSES)
    assert list(stats) == ['Normal', 'COVID-19']  # CP has no slice
    normal = stats['Normal']
    assert normal['n'] == 2 and normal['top1'] == pytest.approx(0.8)
    assert normal['top10'] == pytest.approx((scores[0, :10].mean() + scores[1, :10].mean()) / 2)
    # 0.9 - 0.9k/11 >= 0.5 for k <= 4; 0.7 - 0.05k >= 0.5 for k <= 4: 5 rows each
    assert normal['rows_ge_05'] == 5.0
    assert stats['COVID-19'] == dict(n=1, top1=pytest.approx(0.6), top10=pytest.approx(0.6),
                                     rows_ge_05=12.0)


def test_linear_probe_finds_a_class_written_into_the_rows():
    y_train, y_test = np.arange(60) % 3, np.arange(30) % 3
    x_train, x_test = _batches(y_train), _batches(y_test, seed=1)
    linear_probe = roi_batch_probe.linear_probe
    assert np.array_equal(linear_probe(x_train, y_train, x_test, 3), y_test)
    # the score column alone carries it too
    assert np.array_equal(linear_probe(x_train[..., :1], y_train, x_test[..., :1], 3), y_test)


@pytest.mark.parametrize('replay', [(1, 1), (256, 16)], ids=['batch-1', 'replay'])
def test_offline_s_learns_a_class_written_into_the_rows(replay):
    y_train, y_test = np.arange(60) % 3, np.arange(30) % 3
    x_train, x_test = _batches(y_train), _batches(y_test, seed=1)
    s_cfg = dict(type='ImageClassifierS', in_features=4 * 5, hidden_channels=32)
    train_s_offline = roi_batch_probe.train_s_offline
    f1 = train_s_offline(s_cfg, x_train, y_train, x_test, y_test, [1, 200], lr=1e-3,
                         replay=replay, seed=0)
    assert list(f1) == [1, 200] and f1[1] < 0.5 and f1[200] == 1.0
    assert f1 == train_s_offline(s_cfg, x_train, y_train, x_test, y_test, [1, 200], lr=1e-3,
                                 replay=replay, seed=0)  # seeded


def test_probe_and_offline_s_study(prepared_phantom, tmp_path):
    config, checkpoint = save_untrained(tiny_ssm_cfg(prepared_phantom, str(tmp_path)),
                                        tmp_path, 'tiny_ssm')
    out = str(tmp_path / 'probe.json')
    proc = run_command(
        [sys.executable, 'tools/analysis_tools/roi_batch_probe.py', config, checkpoint,
         '--offline-s', '1,3', '--seeds', '2', '--out', out])
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as f:
        result = json.load(f)
    # every test slice counted once, in the score table and in S's predictions
    num_test = sum(st['n'] for st in result['scores_by_class'].values())
    assert num_test > 0 and sum(result['s_predicted_classes']) == num_test
    assert len(result['s_predicted_classes']) == 3
    correct = result['s_accuracy'] * num_test
    assert correct == pytest.approx(round(correct))  # a count of slices over num_test
    study = result['offline_s']
    assert study['steps'] == [1, 3] and study['seeds'] == 2
    assert {(r['rows'], r['batching']) for r in study['runs']} == {
        (rows, how) for rows in ('deltas', 'boxes', 'deltas x score', 'boxes x score')
        for how in ('batch 1', 'replay 16 of 256')}
    for run in study['runs']:
        assert all(len(v) == 2 and all(0 <= f <= 1 for f in v)
                   for v in run['f1_weighted'].values())
    assert 'boxes x score' in proc.stdout
