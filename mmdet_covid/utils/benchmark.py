"""Measuring a detector's speed, memory and FLOPs on one synthetic CT slice.

The library of ``tools/benchmark.py`` (which compares the SSM with stock Mask R-CNN,
each case in its own process) and ``tools/analysis_tools/profile_inference.py``: the
slice every case runs on, the median timer, the optimizer a timed training iteration
uses, the measurement of one case and the JSON report of a run.
"""
import contextlib
import copy
import os
import platform
import resource
import statistics
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn


def synthetic_slice(size: int = 512) -> Tuple[dict, dict]:
    """A deterministic CT-like slice with six bright blobs, packed twice: as a sample of
    the lesion task (boxes, labels, masks) and of the classification task (``gt_label``
    COVID-19).

    Args:
        size: the slice's side in pixels, more than 160 (a blob is up to 80 pixels wide,
            its corner 40 to ``size - 120`` pixels from the slice's).

    Returns:
        ``(seg, cls)``: two ``dict(inputs=[(3, size, size) uint8], data_samples=[...])``
        batches of one, on the same pixels.
    """
    from mmdet.structures import DetDataSample
    from mmdet.structures.bbox import HorizontalBoxes
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData

    rng = np.random.default_rng(0)
    img = rng.normal(60, 10, (size, size))
    boxes = []
    for _ in range(6):
        x, y = rng.integers(40, size - 120, 2)
        w, h = rng.integers(30, 80, 2)
        img[y:y + h, x:x + w] = 170
        boxes.append([x, y, x + w, y + h])
    img = np.repeat(img.clip(0, 255).astype(np.uint8)[None], 3, 0)
    meta = dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size),
                scale_factor=(1.0, 1.0), img_id=0)
    seg = DetDataSample(metainfo=meta)
    masks = np.zeros((len(boxes), size, size), np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        masks[k, y1:y2, x1:x2] = 1
    seg.gt_instances = InstanceData(
        bboxes=HorizontalBoxes(torch.tensor(boxes, dtype=torch.float32)),
        labels=torch.zeros(len(boxes), dtype=torch.long), masks=BitmapMasks(masks, size, size))
    seg.ignored_instances = InstanceData(bboxes=HorizontalBoxes(torch.zeros(0, 4)),
                                         labels=torch.zeros(0, dtype=torch.long))
    cls = DetDataSample(metainfo=meta)
    cls.gt_label = torch.tensor([2])
    inputs = torch.from_numpy(img)
    return dict(inputs=[inputs], data_samples=[seg]), dict(inputs=[inputs], data_samples=[cls])


def copies(sample: dict, n: int) -> dict:
    """A batch of ``n`` copies of a one-slice packed sample (the data samples deep-copied,
    as a forward writes its predictions into them)."""
    return dict(inputs=sample['inputs'] * n,
                data_samples=[copy.deepcopy(sample['data_samples'][0]) for _ in range(n)])


def median_seconds(fn: Callable[[], object], repeats: int,
                   sync: Callable[[], None] = lambda: None) -> float:
    """Median wall seconds of ``repeats`` calls of ``fn``, after two untimed calls.

    Args:
        fn: what is timed.
        repeats: timed calls.
        sync: called before each clock reading (``torch.cuda.synchronize`` on a GPU, so
            that queued kernels are counted where they run).
    """
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def autocast(amp: bool):
    """The autocast context of ``--amp`` on CUDA (float16, as mmengine's
    ``AmpOptimWrapper``), a no-op without it."""
    return torch.autocast('cuda', dtype=torch.float16) if amp else contextlib.nullcontext()


def forward_gflops(model: nn.Module, sample: dict) -> float:
    """GFLOPs of one inference forward (dense convolutions and matrix products, counted
    by ``torch.utils.flop_counter``, 2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.test_step(sample)
    return counter.get_total_flops() / 1e9


def train_optim_wrapper(model: nn.Module, amp: bool = False):
    """The optimizer wrapper a timed training iteration runs with: Adam; with
    ``amp``, float16 autocast in ``train_step`` and dynamic loss scaling, as
    ``tools/train.py --amp``."""
    from mmengine.optim import build_optim_wrapper

    optim = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-6))
    if amp:
        optim = dict(optim, type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic')
    return build_optim_wrapper(model, dict(
        optim, constructor='TrainableParamsOptimWrapperConstructor'))


def build_benchmark_model(config: str, overrides: Optional[dict] = None,
                          device: str = 'cpu') -> nn.Module:
    """The model of ``config`` (``overrides`` merged, as ``--cfg-options``) with fresh
    weights, keeping all of its 128 best detections per slice (score threshold 0):
    every case then does the same post-processing and mask pasting whatever its
    weights."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    cfg = Config.fromfile(config)  # its custom_imports register the plugin
    cfg.merge_from_dict(overrides or {})
    init_default_scope('mmdet')
    model_cfg = cfg.model
    # the baseline config has one class and no ImageNet weights; cap it as the SSM
    model_cfg.test_cfg.rcnn.max_per_img = 128
    model_cfg.test_cfg.rcnn.score_thr = 0.0  # keep all 128 detections
    model = MODELS.build(model_cfg).to(device)
    model.init_weights()
    return model


def measure_model(model: nn.Module, device: str, repeats: int, dual_task: bool,
                  batch_sizes: Iterable[int] = (1, ), amp: bool = False,
                  train_batch_size: int = 1) -> Dict[str, float]:
    """Time a model's inference and training on :func:`synthetic_slice`.

    Args:
        model: from :func:`build_benchmark_model`, on ``device``.
        device: ``'cpu'`` or ``'cuda'``.
        repeats: timed inference calls (training and batched inference: half as many,
            at least 3).
        dual_task: a training iteration is the segmentation step and the
            classification step (the SSM); else the segmentation step alone.
        batch_sizes: also time inference on batches of these many copies of the slice.
        amp: float16 autocast (CUDA).
        train_batch_size: above 1, also time an iteration on that many slices.

    Returns:
        ``params``, ``gflops``, ``dets`` (detections of one slice), ``infer`` (median
        seconds per slice), ``rss_infer_mb`` (peak resident memory after building and
        single-slice inference), ``infer_batchN`` (seconds per slice at batch N),
        ``train`` (median seconds per iteration), ``train_batchN``, ``rss_mb`` (peak
        resident memory, training included) and ``gpu_mb`` (peak CUDA memory, 0 on a
        CPU).
    """
    seg, cls = synthetic_slice()
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    out = dict(params=sum(p.numel() for p in model.parameters()))

    model.eval()
    out['gflops'] = forward_gflops(model, seg)
    with torch.no_grad(), autocast(amp):
        out['dets'] = len(model.test_step(seg)[0].pred_instances)
        out['infer'] = median_seconds(lambda: model.test_step(seg), repeats, sync)
        # the peak so far: building the model and single-slice inference
        out['rss_infer_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for n in sorted(set(batch_sizes) - {1}):
            batch = copies(seg, n)
            out[f'infer_batch{n}'] = median_seconds(
                lambda: model.test_step(batch), max(3, repeats // 2), sync) / n
    model.train()
    wrapper = train_optim_wrapper(model, amp)

    def iteration(seg_batch: dict, cls_batch: dict) -> None:
        model.train_step(seg_batch, wrapper)
        if dual_task:  # segmentation step + classification step
            model.train_step(cls_batch, wrapper)

    out['train'] = median_seconds(lambda: iteration(seg, cls), max(3, repeats // 2), sync)
    if train_batch_size > 1:
        seg_n, cls_n = copies(seg, train_batch_size), copies(cls, train_batch_size)
        out[f'train_batch{train_batch_size}'] = median_seconds(
            lambda: iteration(seg_n, cls_n), max(3, repeats // 2), sync)
    out['rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out['gpu_mb'] = torch.cuda.max_memory_allocated() / 2**20 if device == 'cuda' else 0.0
    return out


def median_rows(runs: Dict[str, List[dict]]) -> Dict[str, dict]:
    """``{case: {figure: median over the rounds}}`` of ``{case: [one row per round]}``;
    cases without a row (all rounds failed) are left out."""
    return {name: {key: statistics.median(r[key] for r in results) for key in results[0]}
            for name, results in runs.items() if results}


def _batched(row: dict, prefix: str) -> dict:
    """``{N: value}`` of the ``f'{prefix}{N}'`` keys of a row (batched figures)."""
    return {int(key[len(prefix):]): value for key, value in row.items()
            if key.startswith(prefix) and key[len(prefix):].isdigit()}


def benchmark_report(rows: Dict[str, dict], labels: Dict[str, str], device: str, repeats: int,
                     rounds: int, precision: str, memory: str, stock: Optional[str] = None,
                     reference: Sequence[dict] = ()) -> dict:
    """A benchmark run as JSON: machine, versions, per-case medians and their ratio to
    the ``stock`` case of the same run, the reference figures with their sources.

    Args:
        rows: ``{case: {params, dets, gflops, infer, train, rss_mb[, rss_infer_mb]
            [, gpu_mb][, infer_batchN][, train_batchN]}}`` medians
            (:func:`measure_model`); ``infer_batchN`` is seconds per slice at batch N,
            ``train_batchN`` seconds per iteration at batch N.
        labels: ``{case: what it is}``.
        device: ``'cpu'`` or ``'cuda'``.
        repeats: timed calls per figure.
        rounds: how many times the cases ran, alternating.
        precision: what ran in reduced precision (``'float32'``: nothing).
        memory: how freed memory was handled.
        stock: the case every ratio (``ratio_to_stock_r50``) is to; none without it or
            when it has no row.
        reference: figures not measured by the run, each with its ``source``.
    """
    import mmcv
    import mmdet

    from .machine import cpu_model

    base = rows.get(stock) if stock else None
    cases = {}
    for name, r in rows.items():
        case = dict(label=labels[name], params=int(r['params']), detections=int(r['dets']),
                    gflops_per_slice=r.get('gflops'), infer_s_per_slice=r['infer'],
                    train_s_per_iter=r['train'], train_iters_per_s=1.0 / r['train'],
                    peak_rss_gb=r['rss_mb'] / 1024)
        if 'rss_infer_mb' in r:  # inference alone (peak_rss_gb: training included)
            case['peak_rss_infer_gb'] = r['rss_infer_mb'] / 1024
        if 'gpu_mb' in r and device == 'cuda':
            case['peak_gpu_gb'] = r['gpu_mb'] / 1024
        for n, sec in _batched(r, 'infer_batch').items():
            case[f'infer_s_per_slice_batch{n}'] = sec
            case[f'infer_slices_per_s_batch{n}'] = 1.0 / sec
        for n, sec in _batched(r, 'train_batch').items():
            case[f'train_s_per_iter_batch{n}'] = sec
            case[f'train_slices_per_s_batch{n}'] = n / sec
        if base:
            ratio = dict(infer=r['infer'] / base['infer'], train=r['train'] / base['train'],
                         peak_rss=r['rss_mb'] / base['rss_mb'])
            if 'rss_infer_mb' in r and 'rss_infer_mb' in base:
                ratio['peak_rss_infer'] = r['rss_infer_mb'] / base['rss_infer_mb']
            for key in r:
                if key.startswith(('infer_batch', 'train_batch')) and key in base:
                    ratio[key] = r[key] / base[key]
            case['ratio_to_stock_r50'] = ratio
        cases[name] = case
    gpu = torch.cuda.get_device_name(0) if device == 'cuda' and torch.cuda.is_available() \
        else None
    return dict(
        machine=dict(processor=platform.processor() or platform.machine(),
                     cpu_model=cpu_model(), cpus=os.cpu_count(),
                     threads=torch.get_num_threads(), device=device, gpu=gpu),
        versions=dict(python=platform.python_version(), torch=torch.__version__,
                      mmcv=mmcv.__version__, mmdet=mmdet.__version__),
        slice='512x512, box score threshold 0 (all 128 detections, masks pasted)',
        precision=precision,
        memory=memory,
        flops='forward of one slice at inference, counted by torch.utils.flop_counter '
              '(2 per multiply-add) over dense convolutions and matrix products; '
              'RoIAlign, NMS and the mask paste are not counted',
        repeats=repeats, rounds=rounds, statistic='median', cases=cases,
        reference=list(reference))
