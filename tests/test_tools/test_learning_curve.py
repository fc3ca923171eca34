"""learning_curve.py: evaluation rows placed at the iteration they followed, rows
files merged with runs, the figure with its reference lines."""
import json

import pytest

from tests.conftest import load_tool

learning_curve = load_tool('analysis_tools/learning_curve.py')

KEYS = ['cls/f1_weighted', 'seg/segm_mAP_50']


def _log(folder, rows):
    path = folder / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text('\n'.join(json.dumps(r) for r in rows) + '\n')


def test_epoch_evaluations_land_on_their_iterations_and_a_resumed_log_wins(tmp_path):
    # 40 iterations per epoch, logged every 20; epoch 2 evaluated twice (a resumed run)
    _log(tmp_path / '20260101_000000', [
        dict(iter=20, epoch=1, loss=1.0), dict(iter=40, epoch=1, loss=0.9),
        {'step': 1, 'cls/f1_weighted': 0.5, 'seg/segm_mAP_50': 0.7},
        dict(iter=60, epoch=2, loss=0.8),
        {'step': 2, 'cls/f1_weighted': 0.6, 'seg/segm_mAP_50': 0.8}])
    _log(tmp_path / '20260102_000000', [
        {'step': 2, 'cls/f1_weighted': 0.65, 'seg/segm_mAP_50': 0.8}])
    rows = learning_curve.curve(str(tmp_path), KEYS)
    assert rows == [dict(iter=40, epoch=1, **{KEYS[0]: 0.5, KEYS[1]: 0.7}),
                    dict(iter=80, epoch=2, **{KEYS[0]: 0.65, KEYS[1]: 0.8})]
    with pytest.raises(FileNotFoundError, match='no \\*/vis_data/scalars.json'):
        learning_curve.curve(str(tmp_path / 'none'), KEYS)


def test_rows_file_merges_runs_skips_notes_and_draws_reference_lines(tmp_path, capsys):
    rows = tmp_path / 'rows.json'
    rows.write_text(json.dumps({
        'about': 'a note, not a run', 'baseline': {'f1_weighted': 0.9},
        'ssm': [dict(iter=900, epoch=1, **{KEYS[0]: 0.95})],
        'make_demo': [dict(iter=800, epoch=None, **{KEYS[0]: 0.957, KEYS[1]: 0.987})]}))
    out, merged = tmp_path / 'curve.png', tmp_path / 'merged.json'
    learning_curve.main([str(rows), '--keys', *KEYS, '--out', str(out), '--json', str(merged),
                         '--hline', 'baseline', '0.9', '--hline', 'target', '0.95'])
    assert out.stat().st_size > 1000
    with open(merged) as f:
        runs = json.load(f)
    assert list(runs) == ['ssm', 'make_demo']  # the notes are not runs
    assert runs['ssm'] == [dict(iter=900, epoch=1, **{KEYS[0]: 0.95, KEYS[1]: None})]
    assert '| 800 | - | 0.957 | 0.987 |' in capsys.readouterr().out
