"""mmdet_covid.utils.benchmark: the synthetic slice, the timer, FLOPs, the optimizer of a
timed iteration, one case measured, and the report with its ratios."""
import json
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from mmdet_covid.utils import benchmark
from mmdet_covid.utils.benchmark import (benchmark_report, build_benchmark_model, copies,
                                         forward_gflops, measure_model, median_rows,
                                         median_seconds, synthetic_slice, train_optim_wrapper)
from tests.conftest import CONFIG_DIR

LABELS = {'ssm': 'the SSM', 'mask-rcnn-r50': 'stock R50'}


def test_the_synthetic_slice_is_deterministic_and_its_lesions_are_its_bright_blobs():
    seg, cls = synthetic_slice(256)
    again, _ = synthetic_slice(256)
    assert torch.equal(seg['inputs'][0], again['inputs'][0])
    img = seg['inputs'][0]
    assert img.shape == (3, 256, 256) and img.dtype == torch.uint8
    assert cls['inputs'][0] is img  # both tasks read the same pixels
    truth = seg['data_samples'][0].gt_instances
    assert len(truth) == 6 and truth.masks.masks.shape == (6, 256, 256)
    for (x1, y1, x2, y2), mask in zip(truth.bboxes.tensor.int().tolist(), truth.masks.masks):
        assert mask.sum() == (x2 - x1) * (y2 - y1)
        assert (img[0, y1:y2, x1:x2] == 170).all()  # the blob fills its box
    assert int(cls['data_samples'][0].gt_label) == 2


def test_copies_share_the_pixels_not_the_data_samples():
    seg, _ = synthetic_slice(256)
    batch = copies(seg, 3)
    assert len(batch['inputs']) == 3 and all(i is seg['inputs'][0] for i in batch['inputs'])
    samples = batch['data_samples']
    assert len({id(s) for s in samples} | {id(seg['data_samples'][0])}) == 4
    samples[0].set_metainfo(dict(img_id=7))  # a forward writes into its samples
    assert samples[1].img_id == 0 and seg['data_samples'][0].img_id == 0


def test_median_seconds_warms_up_twice_syncs_around_each_call_and_takes_the_median(
        monkeypatch):
    clock = iter([0.0, 1.0, 10.0, 13.0, 20.0, 22.0])  # timed calls of 1, 3 and 2 s
    monkeypatch.setattr(benchmark, 'time', SimpleNamespace(perf_counter=lambda: next(clock)))
    calls, syncs = [], []
    assert median_seconds(lambda: calls.append(1), 3, lambda: syncs.append(1)) == 2.0
    assert len(calls) == 5 and len(syncs) == 6  # 2 warm-ups; a sync before each reading


class _MatMul(nn.Module):
    """``test_step``: one (8 x 16) @ (16 x 4) product, 2 * 8 * 16 * 4 FLOPs."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(16, 4))

    def test_step(self, data):
        return data['x'] @ self.weight


def test_forward_gflops_counts_two_per_multiply_add():
    assert forward_gflops(_MatMul(), dict(x=torch.ones(8, 16))) == pytest.approx(
        2 * 8 * 16 * 4 / 1e9)


def test_the_timed_iteration_uses_adam_and_with_amp_a_dynamic_loss_scale():
    model = _MatMul()
    wrapper = train_optim_wrapper(model)
    assert type(wrapper).__name__ == 'OptimWrapper'
    assert isinstance(wrapper.optimizer, torch.optim.Adam)
    assert wrapper.optimizer.param_groups[0]['lr'] == 1e-6
    if torch.cuda.is_available():  # mmengine's AmpOptimWrapper needs a GPU
        amp = train_optim_wrapper(model, amp=True)
        assert type(amp).__name__ == 'AmpOptimWrapper' and amp.cast_dtype == torch.float16


class _Detector(nn.Module):
    """A stand-in detector: 3 detections per slice; records its training steps."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 2)
        self.steps = []

    def test_step(self, data):
        from mmdet.structures import DetDataSample
        from mmengine.structures import InstanceData

        out = []
        for _ in data['inputs']:
            sample = DetDataSample()
            sample.pred_instances = InstanceData(scores=torch.rand(3))
            out.append(sample)
        return out

    def train_step(self, data, wrapper):
        self.steps.append(('cls' if hasattr(data['data_samples'][0], 'gt_label') else 'seg',
                           len(data['inputs'])))
        wrapper.update_params(self.layer(torch.ones(1, 2)).sum())


@pytest.mark.parametrize('dual_task', [True, False])
def test_measure_model_times_every_figure_and_runs_the_steps_asked_for(dual_task):
    model = _Detector()
    out = measure_model(model, 'cpu', repeats=2, dual_task=dual_task, batch_sizes=(1, 2),
                        train_batch_size=2)
    assert set(out) == {'params', 'gflops', 'dets', 'infer', 'rss_infer_mb', 'infer_batch2',
                        'train', 'train_batch2', 'rss_mb', 'gpu_mb'}
    assert out['params'] == 6 and out['dets'] == 3 and out['gpu_mb'] == 0.0
    assert out['rss_mb'] >= out['rss_infer_mb'] > 0

    def iteration(n):
        return [('seg', n), ('cls', n)] if dual_task else [('seg', n)]

    # (2 warm-ups + 3 timed) iterations at batch 1, then as many at batch 2
    assert model.steps == [s for n in (1, 2) for _ in range(5) for s in iteration(n)]


def test_median_rows_takes_each_figure_over_the_rounds_and_leaves_out_failed_cases():
    runs = {'ssm': [dict(infer=1.0, train=3.0), dict(infer=3.0, train=1.0),
                    dict(infer=2.0, train=2.0)], 'mask-rcnn-r50': []}
    assert median_rows(runs) == {'ssm': dict(infer=2.0, train=2.0)}


def test_the_benchmark_model_keeps_all_128_detections():
    model = build_benchmark_model(
        osp.join(CONFIG_DIR, 'ssm', 'ssm_r18-b3-aug_50e_cncb-covidx.py'),
        {'model.roi_head.mask_head.type': 'FCNMaskHead'})
    assert type(model.roi_head.mask_head).__name__ == 'FCNMaskHead'  # overrides merged
    assert model.test_cfg.rcnn.score_thr == 0.0 and model.test_cfg.rcnn.max_per_img == 128


def test_report_has_machine_versions_ratios_and_sourced_references():
    medians = {'ssm': dict(params=8.27e6, dets=128, gflops=41.9, infer=0.5, train=1.0,
                           rss_mb=1024.0, rss_infer_mb=512.0),
               'mask-rcnn-r50': dict(params=43.9e6, dets=128, gflops=300.0, infer=2.0,
                                     train=4.0, rss_mb=2048.0, rss_infer_mb=2048.0)}
    reference = [dict(what='elsewhere', infer_s=0.47, source='a paper')]
    out = json.loads(json.dumps(benchmark_report(
        medians, LABELS, 'cpu', 10, 3, 'float32', 'freed memory reused', stock='mask-rcnn-r50',
        reference=reference), allow_nan=False))
    assert out['machine']['threads'] >= 1 and out['versions']['mmdet'] == '3.3.0'
    with open('/proc/cpuinfo') as f:  # the model name, where Linux gives one
        assert out['machine']['cpu_model'] in f.read()
    ssm = out['cases']['ssm']
    assert ssm['label'] == 'the SSM'
    assert ssm['ratio_to_stock_r50'] == pytest.approx(
        dict(infer=0.25, train=0.25, peak_rss=0.5, peak_rss_infer=0.25))
    assert ssm['peak_rss_infer_gb'] == 0.5 and 'peak_gpu_gb' not in ssm
    assert out['memory'] == 'freed memory reused'
    assert out['cases']['mask-rcnn-r50']['ratio_to_stock_r50']['infer'] == 1.0
    assert out['rounds'] == 3 and ssm['detections'] == 128
    assert ssm['train_iters_per_s'] == 1.0
    assert ssm['gflops_per_slice'] == 41.9 and 'not counted' in out['flops']
    assert out['precision'] == 'float32' and out['reference'] == reference


def test_report_carries_the_batched_figures_and_no_ratio_without_the_stock_case():
    medians = {'ssm': dict(params=8.27e6, dets=128, gflops=41.9, infer=0.5, train=1.0,
                           rss_mb=1024.0, infer_batch8=0.3, infer_batch64=0.25,
                           train_batch8=2.0),
               'mask-rcnn-r50': dict(params=43.9e6, dets=128, gflops=300.0, infer=2.0,
                                     train=4.0, rss_mb=2048.0, infer_batch8=1.5,
                                     infer_batch64=1.0, train_batch8=8.0)}
    out = benchmark_report(medians, LABELS, 'cpu', 10, 1, 'AMP', 'defaults',
                           stock='mask-rcnn-r50')
    ssm = out['cases']['ssm']
    assert ssm['infer_s_per_slice_batch8'] == 0.3 and ssm['infer_slices_per_s_batch64'] == 4.0
    assert ssm['train_s_per_iter_batch8'] == 2.0 and ssm['train_slices_per_s_batch8'] == 4.0
    assert ssm['ratio_to_stock_r50']['infer_batch8'] == pytest.approx(0.2)
    assert ssm['ratio_to_stock_r50']['infer_batch64'] == pytest.approx(0.25)
    assert ssm['ratio_to_stock_r50']['train_batch8'] == pytest.approx(0.25)
    assert out['precision'] == 'AMP' and out['reference'] == []
    alone = benchmark_report({'ssm': medians['ssm']}, LABELS, 'cpu', 10, 1, 'float32', 'x',
                             stock='mask-rcnn-r50')
    assert 'ratio_to_stock_r50' not in alone['cases']['ssm']
