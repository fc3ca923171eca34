"""tools/analysis_tools/roi_batch_probe.py on a tiny phantom: the probe and the
offline study of S's input."""
import json
import sys

from tests.conftest import run_command, save_untrained, tiny_ssm_cfg


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
    assert 0 <= result['s_accuracy'] <= 1
    study = result['offline_s']
    assert study['steps'] == [1, 3] and study['seeds'] == 2
    assert {(r['rows'], r['batching']) for r in study['runs']} == {
        (rows, how) for rows in ('deltas', 'boxes', 'deltas x score', 'boxes x score')
        for how in ('batch 1', 'replay 16 of 256')}
    for run in study['runs']:
        assert all(len(v) == 2 and all(0 <= f <= 1 for f in v)
                   for v in run['f1_weighted'].values())
    assert 'boxes x score' in proc.stdout
