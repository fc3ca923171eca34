"""benchmark.py: its report carries this script's cases and sourced reference figures;
bad options are refused before any model is built."""
import sys

import pytest

from tests.conftest import load_tool

benchmark = load_tool('benchmark.py')


def test_report_labels_the_cases_and_cites_every_reference():
    medians = {'ssm': dict(params=8.27e6, dets=128, gflops=41.9, infer=0.5, train=1.0,
                           rss_mb=1024.0, rss_infer_mb=512.0),
               'mask-rcnn-r50': dict(params=43.9e6, dets=128, gflops=300.0, infer=2.0,
                                     train=4.0, rss_mb=2048.0, rss_infer_mb=2048.0)}
    out = benchmark.report(medians, 'cpu', 10, 3)
    assert out['cases']['ssm']['label'] == benchmark.CASES['ssm'][0]
    assert out['cases']['ssm']['ratio_to_stock_r50']['infer'] == pytest.approx(0.25)
    assert out['memory'].startswith('freed memory reused') and out['precision'] == 'float32'
    assert out['reference'] == benchmark.REFERENCE
    assert all(r['source'] for r in benchmark.REFERENCE)
    assert benchmark.report(medians, 'cpu', 10, 1, amp=True,
                            reuse_memory=False)['precision'] == benchmark.AMP_LABEL


@pytest.mark.parametrize('argv,message', [
    (['--amp'], '--amp'),
    (['--batch-size', '0'], '--batch-size'),
    (['--train-batch-size', '0'], '--train-batch-size'),
])
def test_amp_and_bad_batch_sizes_are_refused_on_the_command_line(monkeypatch, capsys, argv,
                                                                  message):
    monkeypatch.setattr(sys, 'argv', ['benchmark.py'] + argv)  # restored after the test
    with pytest.raises(SystemExit) as exit_info:
        benchmark.main()
    assert exit_info.value.code == 2  # argparse's usage error, before any model is built
    err = capsys.readouterr().err
    assert 'error' in err and message in err


def test_the_scan_case_times_every_stage_and_the_slices_alone(monkeypatch, capsys,
                                                              model_files, phantom_scans,
                                                              tmp_path):
    """--scan: a phantom series in, every output written (in a temporary folder), the
    stages timed with their peak memory, and the model on the same slices alone."""
    import json

    config, checkpoint = model_files
    folder, _ = phantom_scans['COVID-19']
    out = tmp_path / 'scan.json'
    monkeypatch.setattr(sys, 'argv', ['benchmark.py', '--scan', config, checkpoint,
                                      f'{folder}/dicom', '--scan-batch-size', '3',
                                      '--out', str(out)])
    benchmark.main()
    report = json.loads(out.read_text())
    stages = ['read', 'model_load', 'lung_mask', 'model', 'burden', 'write']
    assert list(report['seconds']) == stages and all(
        report['seconds'][s] >= 0 for s in stages)
    assert report['total_s'] >= sum(report['seconds'].values()) - 1e-6
    assert report['slices'] == 12 and 0 < report['analysed'] <= 12
    assert report['slices_alone_s'] > 0 and report['batch_size'] == 3
    assert report['ratio_to_slices_alone'] == pytest.approx(
        report['total_s'] / report['slices_alone_s'])
    assert report['outputs']['counts']['slices'] == 12
    assert report['precision'] == 'float32' and report['fit_margin_mm'] is None
    printed = capsys.readouterr().out
    assert 'model on the slices alone' in printed and 'write' in printed
