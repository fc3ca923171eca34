"""seed_table.py: the final metrics of runs, mean and sd over seeds, from their logs."""
import json

import pytest

from tests.conftest import load_tool

main = load_tool('analysis_tools/seed_table.py').main


def _run(root, name, seed, dice, minutes, tested=None):
    work = root / name
    stamp = work / '20261207_060000'
    (stamp / 'vis_data').mkdir(parents=True)
    rows = [dict(loss=1.0, epoch=1, iter=50, step=50),
            {'dice/meanDic': 0.1, 'step': 1},  # an early validation: not the final one
            {'dice/meanDic': dice, 'step': 2}]
    (stamp / 'vis_data' / 'scalars.json').write_text('\n'.join(map(json.dumps, rows)))
    (stamp / '20261207_060000.log').write_text(
        '2026/12/07 06:00:00 - mmengine - INFO - start\n'
        '2026/12/07 06:00:30 - mmengine - INFO - Epoch(train) [1][50/50]\n'
        f'2026/12/07 06:{minutes:02d}:00 - mmengine - INFO - Epoch(val) [2][48/48]\n')
    (work / 'cfg.py').write_text(f'randomness = dict(seed={seed})\n')
    if tested is not None:  # tools/test.py afterwards: its metrics win, its time is not training
        test = work / '20261207_080000'
        test.mkdir()
        (test / '20261207_080000.json').write_text(json.dumps({'dice/meanDic': tested}))
        (test / '20261207_080000.log').write_text(
            '2026/12/07 08:00:00 - mmengine - INFO - test\n'
            '2026/12/07 08:09:00 - mmengine - INFO - Epoch(test) [48/48]\n')
    return str(work)


def test_mean_and_sd_of_the_final_evaluations(tmp_path, capsys):
    a = _run(tmp_path, 'a', 0, 0.50, 20)
    b = _run(tmp_path, 'b', 1, 0.70, 40, tested=0.60)
    out = tmp_path / 'table.json'
    result = main(['--run', f'SSM:{a},{b}', '--keys', 'dice/meanDic', '--out', str(out)])
    runs = result['variants']['SSM']['runs']
    assert [r['metrics']['dice/meanDic'] for r in runs] == [0.50, 0.60]
    assert [r['seed'] for r in runs] == [0, 1] and [r['wall_s'] for r in runs] == [1200, 2400]
    summary = result['variants']['SSM']['summary']
    assert summary['dice/meanDic']['mean'] == pytest.approx(0.55)
    assert summary['dice/meanDic']['sd'] == pytest.approx(0.0707, abs=1e-4)
    assert '| SSM | 0, 1 | 0.550 ± 0.071 | 30 ± 14 |' in capsys.readouterr().out
    assert json.loads(out.read_text())['cpu']


def test_a_run_without_evaluation_is_an_error(tmp_path):
    work = tmp_path / 'x' / '20261207_060000' / 'vis_data'
    work.mkdir(parents=True)
    (work / 'scalars.json').write_text(json.dumps(dict(loss=1.0, step=1)))
    with pytest.raises(ValueError, match='no evaluation'):
        main(['--run', f'X:{tmp_path / "x"}'])
