"""benchmark.py --out: the run as JSON, each figure also as a ratio to stock R50."""
import json

import pytest


def test_report_has_machine_versions_ratios_and_sourced_references():
    from benchmark import REFERENCE, report  # tools/ is on sys.path

    medians = {'ssm': dict(params=8.27e6, dets=128, infer=0.5, train=1.0, rss_mb=1024.0),
               'mask-rcnn-r50': dict(params=43.9e6, dets=128, infer=2.0, train=4.0,
                                     rss_mb=2048.0)}
    out = json.loads(json.dumps(report(medians, 'cpu', 10, 3), allow_nan=False))
    assert out['machine']['threads'] >= 1 and out['versions']['mmdet'] == '3.3.0'
    assert out['cases']['ssm']['ratio_to_stock_r50'] == pytest.approx(
        dict(infer=0.25, train=0.25, peak_rss=0.5))
    assert out['cases']['mask-rcnn-r50']['ratio_to_stock_r50']['infer'] == 1.0
    assert out['rounds'] == 3 and out['cases']['ssm']['detections'] == 128
    assert out['reference'] == REFERENCE and all(r['source'] for r in REFERENCE)


def test_report_carries_the_batched_inference_figure():
    from benchmark import report

    medians = {'ssm': dict(params=8.27e6, dets=128, infer=0.5, train=1.0, rss_mb=1024.0,
                           infer_batch=0.3),
               'mask-rcnn-r50': dict(params=43.9e6, dets=128, infer=2.0, train=4.0,
                                     rss_mb=2048.0, infer_batch=1.5)}
    out = report(medians, 'cpu', 10, 1, batch_size=8)
    assert out['cases']['ssm']['infer_s_per_slice_batch8'] == 0.3
    assert out['cases']['ssm']['ratio_to_stock_r50']['infer_batch8'] == pytest.approx(0.2)
