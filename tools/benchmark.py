"""Speed of the SSM against stock mmdet Mask R-CNN, one 512x512 slice.

    python tools/benchmark.py [--device cpu|cuda] [--repeats 10] [--rounds 1] [--threads N]
                              [--batch-size N]

Every case runs in its own process (so that peak memory is its own) on the
same synthetic 512x512 slice, with the box score threshold at 0 so that the
post-processing keeps the full 128 detections (masks pasted for all of them).
Prints one table: parameters, inference seconds per slice (median), training
seconds per iteration (SSM: segmentation step + classification step, batch 1)
and peak resident memory; ``--batch-size N`` also times inference on batches of N
copies of the slice (seconds per slice); ``--out bench.json`` writes it also as JSON, with the
machine, the versions and each figure's ratio to stock Mask R-CNN R50 measured in
the same run (compare machines by these ratios, not by seconds).
"""
import argparse
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SSM = osp.join(REPO, 'configs', 'ssm', 'ssm_r18-b3-aug_50e_cncb-covidx.py')
# mmdet's stock mask-rcnn_r50_fpn_1x_coco.py, one lesion class at 512x512 (inherits it)
STOCK = osp.join(REPO, 'configs', 'baselines', 'mask-rcnn_r50_fpn_50e_cncb.py')

CASES = {
    'ssm': ('SSM R18 blocks 1-3, augmented (ours)', SSM, {}),
    'ssm-stock-ops': (
        'same SSM, stock mmcv RoIAlign + FCNMaskHead paste', SSM,
        {'model.roi_head.bbox_roi_extractor': dict(
            type='SingleRoIExtractor', roi_layer=dict(
                _delete_=True, type='RoIAlign', output_size=7, sampling_ratio=2)),
         'model.roi_head.mask_roi_extractor': dict(
            type='SingleRoIExtractor', roi_layer=dict(
                _delete_=True, type='RoIAlign', output_size=14, sampling_ratio=2)),
         'model.roi_head.mask_head.type': 'FCNMaskHead'}),
    'mask-rcnn-r50': ('stock mmdet Mask R-CNN R50-FPN (1 class, 512x512)', STOCK, {}),
}
STOCK_CASE = 'mask-rcnn-r50'
# Not measured by this script: what it is compared with, and where each figure is from.
REFERENCE = [
    dict(what="authors' code (AlexTS1980/COVID-Single-Shot-Model), CPU, 2 threads",
         infer_s=0.47, rss_gb=1.2, source='measured on this project\'s 2-core machines, '
         'same 512x512 slice and 128 detections (issue 12 of this project)'),
    dict(what="authors' code, NVIDIA H100", infer_s=0.0139, train_s=0.041,
         source='measured on this project\'s H100 machine (issue 12 of this project)'),
]


def report(rows: dict, device: str, repeats: int, rounds: int, batch_size: int = 1) -> dict:
    """The run as JSON: machine, versions, per-case medians and their ratio to
    stock Mask R-CNN R50 of the same run, the reference figures with sources.

    Args:
        rows: ``{case: {params, dets, infer, train, rss_mb[, gpu_mb]}}`` medians.
    """
    import platform

    import mmcv
    import mmdet
    import torch

    stock = rows.get(STOCK_CASE)
    cases = {}
    for name, r in rows.items():
        case = dict(label=CASES[name][0], params=int(r['params']), detections=int(r['dets']),
                    infer_s_per_slice=r['infer'], train_s_per_iter=r['train'],
                    peak_rss_gb=r['rss_mb'] / 1024)
        if 'gpu_mb' in r and device == 'cuda':
            case['peak_gpu_gb'] = r['gpu_mb'] / 1024
        if 'infer_batch' in r:
            case[f'infer_s_per_slice_batch{batch_size}'] = r['infer_batch']
        if stock:
            case['ratio_to_stock_r50'] = dict(
                infer=r['infer'] / stock['infer'], train=r['train'] / stock['train'],
                peak_rss=r['rss_mb'] / stock['rss_mb'])
            if 'infer_batch' in r and 'infer_batch' in stock:
                case['ratio_to_stock_r50'][f'infer_batch{batch_size}'] = \
                    r['infer_batch'] / stock['infer_batch']
        cases[name] = case
    return dict(
        machine=dict(processor=platform.processor() or platform.machine(),
                     cpus=os.cpu_count(), threads=torch.get_num_threads(), device=device,
                     gpu=torch.cuda.get_device_name(0) if device == 'cuda' else None),
        versions=dict(python=platform.python_version(), torch=torch.__version__,
                      mmcv=mmcv.__version__, mmdet=mmdet.__version__),
        slice='512x512, box score threshold 0 (all 128 detections, masks pasted)',
        repeats=repeats, rounds=rounds, statistic='median', cases=cases,
        reference=REFERENCE)


def _slice(size: int = 512):
    """A deterministic CT-like slice with bright blobs, as a packed sample."""
    import numpy as np
    import torch
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


def _timed(fn, repeats: int, sync) -> float:
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


def run_case(name: str, device: str, repeats: int, batch_size: int = 1) -> dict:
    import torch
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    import mmdet_covid  # noqa: F401
    from mmdet.registry import MODELS

    _, config, overrides = CASES[name]
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(overrides)
    init_default_scope('mmdet')
    model_cfg = cfg.model
    # the baseline config has one class and no ImageNet weights; cap it as the SSM
    model_cfg.test_cfg.rcnn.max_per_img = 128
    model_cfg.test_cfg.rcnn.score_thr = 0.0  # keep all 128 detections
    model = MODELS.build(model_cfg).to(device)
    model.init_weights()
    seg, cls = _slice()
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)

    model.eval()
    with torch.no_grad():
        num_dets = len(model.test_step(seg)[0].pred_instances)
        infer = _timed(lambda: model.test_step(seg), repeats, sync)
        infer_batch = None
        if batch_size > 1:
            import copy
            batch = dict(inputs=seg['inputs'] * batch_size,
                         data_samples=[copy.deepcopy(seg['data_samples'][0])
                                       for _ in range(batch_size)])
            infer_batch = _timed(lambda: model.test_step(batch), max(3, repeats // 2),
                                 sync) / batch_size
    model.train()
    wrapper = build_optim_wrapper(model, dict(
        type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-6),
        constructor='TrainableParamsOptimWrapperConstructor'))
    if name.startswith('ssm'):
        step = lambda: (model.train_step(seg, wrapper), model.train_step(cls, wrapper))  # noqa
    else:
        step = lambda: model.train_step(seg, wrapper)  # noqa
    train = _timed(step, max(3, repeats // 2), sync)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if device == 'cuda' else 0.0
    out = dict(params=sum(p.numel() for p in model.parameters()), infer=infer,
               train=train, rss_mb=rss_mb, gpu_mb=gpu_mb, dets=num_dets)
    if infer_batch is not None:
        out['infer_batch'] = infer_batch
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--cases', nargs='+', default=list(CASES), choices=list(CASES))
    parser.add_argument('--rounds', type=int, default=1,
                        help='run the cases this many times, alternating')
    parser.add_argument('--batch-size', type=int, default=1,
                        help='also time inference on batches of this many slices')
    parser.add_argument('--out', help='also write the table as JSON here')
    parser.add_argument('--case', help=argparse.SUPPRESS)  # internal: one case, JSON out
    args = parser.parse_args()
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    if args.case:
        print(json.dumps(run_case(args.case, args.device, args.repeats, args.batch_size)))
        return

    # Cases alternate over --rounds (A B C A B C ...) so that a drift of the
    # machine (clocks, other load) does not favour the case that ran first;
    # each number is the median over the rounds.
    runs, failed = {name: [] for name in args.cases}, []
    for _ in range(args.rounds):
        for name in args.cases:
            if name in failed:
                continue
            cmd = [sys.executable, __file__, '--case', name, '--device', args.device,
                   '--repeats', str(args.repeats), '--batch-size', str(args.batch_size)]
            cmd += ['--threads', str(args.threads)] if args.threads else []
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO,
                                  env=dict(os.environ, PYTHONWARNINGS='ignore'))
            if proc.returncode != 0:
                failed.append(name)
                print(f'case {name} failed:\n{proc.stderr[-3000:]}', file=sys.stderr)
                continue
            runs[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    medians = {name: {key: statistics.median(r[key] for r in results) for key in results[0]}
               for name, results in runs.items() if results}
    rows = [(CASES[name][0], r) for name, r in medians.items()]

    import platform

    import torch
    print(f'\ndevice: {args.device} ({platform.processor() or platform.machine()}, '
          f'{torch.get_num_threads()} threads), torch {torch.__version__}, '
          f'512x512 slice, median of {args.repeats} runs x {args.rounds} rounds')
    cuda = args.device == 'cuda'
    batched = args.batch_size > 1
    header = f'{"model":<52} {"params":>8} {"dets":>5} {"infer s/slice":>14} ' \
             + (f'{"@batch " + str(args.batch_size):>14} ' if batched else '') \
             + f'{"train s/iter":>13} {"peak RSS":>9}' + (f' {"peak GPU":>9}' if cuda else '')
    print(header + '\n' + '-' * len(header))
    for label, r in rows:
        print(f'{label:<52} {r["params"] / 1e6:7.2f}M {int(r["dets"]):5d} {r["infer"]:14.4f} '
              + (f'{r["infer_batch"]:14.4f} ' if batched else '')
              + f'{r["train"]:13.4f} {r["rss_mb"] / 1024:8.2f}G'
              + (f' {r["gpu_mb"] / 1024:8.2f}G' if cuda else ''))
    print('\nreference (not measured by this script):')
    for ref in REFERENCE:
        figures = ', '.join(f'{k} {v}' for k, v in ref.items() if k.endswith(('_s', '_gb')))
        print(f'  {ref["what"]}: {figures}\n    source: {ref["source"]}')
    if args.out:
        from mmdet_covid.engine.fileio import atomic_write_json
        atomic_write_json(report(medians, args.device, args.repeats, args.rounds,
                                 args.batch_size), args.out, indent=1)
        print(f'written to {args.out}')
    if failed:
        sys.exit(f'failed cases: {", ".join(failed)}')


if __name__ == '__main__':
    main()
