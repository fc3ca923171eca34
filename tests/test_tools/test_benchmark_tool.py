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
