"""benchmark.py --out: the run as JSON, each figure also as a ratio to stock R50."""
import json
import sys

import pytest


def test_report_has_machine_versions_ratios_and_sourced_references():
    from benchmark import REFERENCE, report  # tools/ is on sys.path

    medians = {'ssm': dict(params=8.27e6, dets=128, gflops=41.9, infer=0.5, train=1.0,
                           rss_mb=1024.0, rss_infer_mb=512.0),
               'mask-rcnn-r50': dict(params=43.9e6, dets=128, gflops=300.0, infer=2.0,
                                     train=4.0, rss_mb=2048.0, rss_infer_mb=2048.0)}
    out = json.loads(json.dumps(report(medians, 'cpu', 10, 3), allow_nan=False))
    assert out['machine']['threads'] >= 1 and out['versions']['mmdet'] == '3.3.0'
    with open('/proc/cpuinfo') as f:  # the model name, where Linux gives one
        assert out['machine']['cpu_model'] in f.read()
    assert out['cases']['ssm']['ratio_to_stock_r50'] == pytest.approx(
        dict(infer=0.25, train=0.25, peak_rss=0.5, peak_rss_infer=0.25))
    assert out['cases']['ssm']['peak_rss_infer_gb'] == 0.5
    assert out['memory'].startswith('freed memory reused')
    assert out['cases']['mask-rcnn-r50']['ratio_to_stock_r50']['infer'] == 1.0
    assert out['rounds'] == 3 and out['cases']['ssm']['detections'] == 128
    assert out['cases']['ssm']['train_iters_per_s'] == 1.0
    assert out['cases']['ssm']['gflops_per_slice'] == 41.9 and 'not counted' in out['flops']
    assert out['precision'] == 'float32'
    assert out['reference'] == REFERENCE and all(r['source'] for r in REFERENCE)


def test_report_carries_the_batched_figures_and_the_precision():
    from benchmark import AMP_LABEL, report

    medians = {'ssm': dict(params=8.27e6, dets=128, gflops=41.9, infer=0.5, train=1.0,
                           rss_mb=1024.0, infer_batch8=0.3, infer_batch64=0.25,
                           train_batch8=2.0),
               'mask-rcnn-r50': dict(params=43.9e6, dets=128, gflops=300.0, infer=2.0,
                                     train=4.0, rss_mb=2048.0, infer_batch8=1.5,
                                     infer_batch64=1.0, train_batch8=8.0)}
    out = report(medians, 'cpu', 10, 1, amp=True)
    ssm = out['cases']['ssm']
    assert ssm['infer_s_per_slice_batch8'] == 0.3 and ssm['infer_slices_per_s_batch64'] == 4.0
    assert ssm['train_s_per_iter_batch8'] == 2.0 and ssm['train_slices_per_s_batch8'] == 4.0
    assert ssm['ratio_to_stock_r50']['infer_batch8'] == pytest.approx(0.2)
    assert ssm['ratio_to_stock_r50']['infer_batch64'] == pytest.approx(0.25)
    assert ssm['ratio_to_stock_r50']['train_batch8'] == pytest.approx(0.25)
    assert out['precision'] == AMP_LABEL


@pytest.mark.parametrize('argv,message', [
    (['--amp'], '--amp'),
    (['--batch-size', '0'], '--batch-size'),
    (['--train-batch-size', '0'], '--train-batch-size'),
])
def test_amp_and_bad_batch_sizes_are_refused_on_the_command_line(monkeypatch, capsys, argv,
                                                                  message):
    import benchmark

    monkeypatch.setattr(sys, 'argv', ['benchmark.py'] + argv)  # restored after the test
    with pytest.raises(SystemExit) as exit_info:
        benchmark.main()
    assert exit_info.value.code == 2  # argparse's usage error, before any model is built
    err = capsys.readouterr().err
    assert 'error' in err and message in err
