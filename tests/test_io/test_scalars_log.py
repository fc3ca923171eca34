"""read_scalars: training and evaluation rows of every log of a work dir, the latest
row of a step winning."""
import json

import pytest

from mmdet_covid.io.scalars_log import read_scalars


def _log(folder, lines):
    path = folder / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text('\n'.join(lines) + '\n')
    return path


def test_rows_are_split_sorted_and_a_resumed_log_wins(tmp_path):
    _log(tmp_path / '20260101_000000', [
        json.dumps(dict(iter=40, epoch=1, loss=0.9)), json.dumps(dict(iter=20, loss=1.0)),
        '',  # a blank line: skipped
        json.dumps({'step': 1, 'cls/f1_weighted': 0.5}),
        json.dumps(dict(step=1, lr=0.1)),  # a step without a metric: not an evaluation
        json.dumps({'step': 2, 'cls/f1_weighted': 0.6})])
    _log(tmp_path / '20260102_000000', [  # the resumed run, read after the first
        json.dumps(dict(iter=40, epoch=1, loss=0.7)),
        json.dumps({'step': 2, 'cls/f1_weighted': 0.65})])
    (tmp_path / 'notes').mkdir()  # a folder without a log: ignored
    train, evals = read_scalars(str(tmp_path))
    assert train == [dict(iter=20, loss=1.0), dict(iter=40, epoch=1, loss=0.7)]
    assert evals == [{'step': 1, 'cls/f1_weighted': 0.5}, {'step': 2, 'cls/f1_weighted': 0.65}]


def test_no_log_and_a_broken_line_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'no \*/vis_data/scalars.json'):
        read_scalars(str(tmp_path))
    path = _log(tmp_path / '20260101_000000', [json.dumps(dict(iter=1)), '{"iter": 2,'])
    with pytest.raises(ValueError, match=f'{path}, line 2: not JSON'):
        read_scalars(str(tmp_path))
