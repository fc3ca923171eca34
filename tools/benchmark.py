"""Speed of the SSM against stock mmdet Mask R-CNN, one 512x512 slice.

    python tools/benchmark.py [--device cpu|cuda] [--repeats 10] [--rounds 1] [--threads N]
                              [--batch-size N [N ...]] [--train-batch-size N] [--amp]

Every case runs in its own process (so that peak memory is its own) on the
same synthetic 512x512 slice, with the box score threshold at 0 so that the
post-processing keeps the full 128 detections (masks pasted for all of them).
Prints one table: parameters, inference seconds per slice (median), training
seconds per iteration (SSM: segmentation step + classification step, batch 1)
and peak resident memory, training iterations per second and the forward's FLOPs
per slice; ``--batch-size N`` also times inference on batches of N copies of the
slice (seconds per slice), ``--train-batch-size N`` a training iteration on N
slices (each step of the SSM on N slices), and ``--amp`` (CUDA) runs everything
under automatic mixed precision: float16 autocast, in training with mmengine's
``AmpOptimWrapper`` (dynamic loss scale) as ``tools/train.py --amp`` does. On a
CPU the case ``ssm-bf16`` is the SSM with ``model.cpu_bf16='always'``: its
backbone, neck, box heads and mask head compute in bfloat16, in inference and
training. Every case runs with freed memory reused
(:func:`mmdet_covid.utils.reuse_freed_memory`, as ``SSMRunner`` and the
inference tools do); ``--malloc-defaults`` keeps glibc's defaults.
``--out bench.json`` writes it also as JSON, with the machine, the versions and
each figure's ratio to stock Mask R-CNN R50 measured in the same run (compare
machines by these ratios, not by seconds).

The scan case (series in, report out) instead of the slice cases::

    python tools/benchmark.py --scan CONFIG CHECKPOINT SCAN [--scan-batch-size 4]
                              [--fit-canvas] [--out scan.json]

analyses SCAN as ``tools/analyze_scan.py`` does (:func:`mmdet_covid.apis.scan_profile.
profile_scan`): seconds and peak memory per stage (read, model load, lung mask, model,
burden, writing), and the ratio of the whole to the model's forward passes on the same
slices alone.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys

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
         'model.roi_head.mask_head.type': 'FCNMaskHead',
         'model.channels_last': False}),  # mmcv's RoIAlign reads NCHW memory only
    'ssm-bf16': ('same SSM, bfloat16 arithmetic on the CPU', SSM,
                 {'model.cpu_bf16': 'always'}),  # inference and training
    'mask-rcnn-r50': ('stock mmdet Mask R-CNN R50-FPN (1 class, 512x512)', STOCK, {}),
}
STOCK_CASE = 'mask-rcnn-r50'
CPU_ONLY = ('ssm-bf16', )  # the same as 'ssm' on CUDA: not run there unless named
# --amp: what runs in reduced precision
AMP_LABEL = 'AMP float16 (autocast; training: dynamic loss scale)'
MEMORY_LABEL = {True: 'freed memory reused (mmdet_covid.utils.reuse_freed_memory), every case',
                False: "glibc's malloc defaults (--malloc-defaults)"}
# Not measured by this script: what it is compared with, and where each figure is from.
REFERENCE = [
    dict(what="authors' code (AlexTS1980/COVID-Single-Shot-Model), CPU, 2 threads",
         infer_s=0.47, rss_gb=1.2, source='measured on this project\'s 2-core machines, '
         'same 512x512 slice and 128 detections (issue 12 of this project)'),
    dict(what="authors' code, NVIDIA H100", infer_s=0.0139, train_s=0.041,
         source='measured on this project\'s H100 machine (issue 12 of this project)'),
]


def report(rows: dict, device: str, repeats: int, rounds: int, amp: bool = False,
           reuse_memory: bool = True) -> dict:
    """The run as JSON (:func:`~mmdet_covid.utils.benchmark.benchmark_report`): this
    script's cases, ratios to stock Mask R-CNN R50 and reference figures."""
    from mmdet_covid.utils.benchmark import benchmark_report

    return benchmark_report(rows, {name: case[0] for name, case in CASES.items()}, device,
                            repeats, rounds, AMP_LABEL if amp else 'float32',
                            MEMORY_LABEL[reuse_memory], stock=STOCK_CASE, reference=REFERENCE)


def run_case(name: str, device: str, repeats: int, batch_sizes=(1, ), amp: bool = False,
             train_batch_size: int = 1, reuse_memory: bool = True) -> dict:
    """The figures of one case (:func:`~mmdet_covid.utils.benchmark.measure_model`)."""
    import mmdet_covid  # noqa: F401
    from mmdet_covid.utils import reuse_freed_memory
    from mmdet_covid.utils.benchmark import build_benchmark_model, measure_model

    if reuse_memory:  # as SSMRunner and the inference tools do
        reuse_freed_memory()
    _, config, overrides = CASES[name]
    model = build_benchmark_model(config, overrides, device)
    return measure_model(model, device, repeats, dual_task=name.startswith('ssm'),
                         batch_sizes=batch_sizes, amp=amp, train_batch_size=train_batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--cases', nargs='+', choices=list(CASES),
                        help=f'default: all (on CUDA all but {", ".join(CPU_ONLY)})')
    parser.add_argument('--rounds', type=int, default=1,
                        help='run the cases this many times, alternating')
    parser.add_argument('--batch-size', type=int, nargs='+', default=[1],
                        help='also time inference on batches of these many slices')
    parser.add_argument('--train-batch-size', type=int, default=1,
                        help='also time a training iteration on this many slices')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (float16), CUDA only')
    parser.add_argument('--malloc-defaults', action='store_true',
                        help="keep glibc's malloc defaults (no reuse_freed_memory)")
    parser.add_argument('--out', help='also write the table as JSON here')
    parser.add_argument('--scan', nargs=3, metavar=('CONFIG', 'CHECKPOINT', 'SCAN'),
                        help='the scan case instead of the slice cases: one scan analysed '
                             'as tools/analyze_scan.py does, timed by stage')
    parser.add_argument('--scan-batch-size', type=int, default=4,
                        help='slices per forward pass in the scan case')
    parser.add_argument('--fit-canvas', action='store_true',
                        help='the scan case with analyze_scan.py --fit-canvas')
    parser.add_argument('--case', help=argparse.SUPPRESS)  # internal: one case, JSON out
    args = parser.parse_args()
    if min(args.batch_size + [args.train_batch_size]) < 1:
        parser.error('--batch-size and --train-batch-size must be >= 1')
    if args.amp and args.device != 'cuda':
        # mmcv's CPU nms reads float32 scores only: the stock RPN fails under autocast
        parser.error('--amp needs --device cuda (on a CPU, mmcv\'s nms takes float32 '
                     'scores only and the stock RPN fails under bfloat16 autocast)')
    if args.cases is None:
        args.cases = [c for c in CASES if args.device == 'cpu' or c not in CPU_ONLY]
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    if args.scan:
        scan_case(args)
        return
    if args.case:
        print(json.dumps(run_case(args.case, args.device, args.repeats, args.batch_size,
                                  args.amp, args.train_batch_size,
                                  not args.malloc_defaults)))
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
                   '--repeats', str(args.repeats), '--batch-size'] \
                + [str(n) for n in args.batch_size] \
                + ['--train-batch-size', str(args.train_batch_size)]
            cmd += ['--threads', str(args.threads)] if args.threads else []
            cmd += ['--amp'] if args.amp else []
            cmd += ['--malloc-defaults'] if args.malloc_defaults else []
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO,
                                  env=dict(os.environ, PYTHONWARNINGS='ignore'))
            if proc.returncode != 0:
                failed.append(name)
                print(f'case {name} failed:\n{proc.stderr[-3000:]}', file=sys.stderr)
                continue
            runs[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    from mmdet_covid.utils.benchmark import median_rows

    medians = median_rows(runs)
    print_table(medians, args)
    if args.out:
        from mmdet_covid.io.atomic_write import atomic_write_json
        atomic_write_json(report(medians, args.device, args.repeats, args.rounds, args.amp,
                                 not args.malloc_defaults), args.out, indent=1)
        print(f'written to {args.out}')
    if failed:
        sys.exit(f'failed cases: {", ".join(failed)}')


def scan_case(args) -> None:
    """The scan case: :func:`~mmdet_covid.apis.scan_profile.profile_scan`, printed (and
    written to ``--out``)."""
    import mmdet_covid  # noqa: F401
    from mmdet_covid.apis.scan_analysis import FIT_MARGIN_MM
    from mmdet_covid.apis.scan_profile import profile_scan
    from mmdet_covid.io.atomic_write import atomic_write_json
    from mmdet_covid.utils import reuse_freed_memory

    reuse_freed_memory()  # as tools/analyze_scan.py
    config, checkpoint, scan = args.scan
    out = profile_scan(config, checkpoint, scan, args.scan_batch_size,
                       FIT_MARGIN_MM if args.fit_canvas else None, args.device)
    canvas = out['canvas_rows_columns']
    print(f'\n{scan}: {out["slices"]} slices ({out["analysed"]} analysed), batch '
          f'{out["batch_size"]}, canvas {"as given" if canvas is None else canvas}, '
          f'{out["precision"]}, {out["threads"]} threads, {out["cpu"]}')
    for stage, seconds in out['seconds'].items():
        peak = out['peak_rss_mb'].get(stage)
        print(f'  {stage:<12} {seconds:8.1f} s' + ('' if peak is None else
                                                     f'   peak {peak / 1024:5.2f} GB'))
    print(f'  {"total":<12} {out["total_s"]:8.1f} s   peak {out["peak_rss_gb"]:5.2f} GB\n'
          f'  model on the slices alone {out["slices_alone_s"]:.1f} s '
          f'({out["slices_alone_s_per_slice"]:.3f} s a slice): the scan takes '
          f'{out["ratio_to_slices_alone"]:.2f}x that')
    if args.out:
        atomic_write_json(out, args.out, indent=1)
        print(f'written to {args.out}')


def print_table(medians: dict, args) -> None:
    """The medians as a table on stdout, then the reference figures."""
    import platform

    import torch
    cuda = args.device == 'cuda'
    precision = AMP_LABEL if args.amp else 'float32'
    print(f'\ndevice: {args.device} ({platform.processor() or platform.machine()}, '
          f'{torch.get_num_threads()} threads), torch {torch.__version__}, {precision}, '
          f'{MEMORY_LABEL[not args.malloc_defaults]}, '
          f'512x512 slice, median of {args.repeats} runs x {args.rounds} rounds')
    batches = sorted(set(args.batch_size) - {1})
    train_n = args.train_batch_size
    header = f'{"model":<52} {"params":>8} {"GFLOPs":>7} {"dets":>5} {"infer s/slice":>14} ' \
        + ''.join(f'{"@batch " + str(n):>14} ' for n in batches) \
        + f'{"train s/iter":>13} {"iter/s":>7} ' \
        + (f'{"train@" + str(train_n) + " slice/s":>18} ' if train_n > 1 else '') \
        + f'{"RSS infer":>9} {"RSS all":>8}' + (f' {"peak GPU":>9}' if cuda else '')
    print(header + '\n' + '-' * len(header))
    for name, r in medians.items():
        print(f'{CASES[name][0]:<52} {r["params"] / 1e6:7.2f}M {r["gflops"]:7.1f} '
              f'{int(r["dets"]):5d} {r["infer"]:14.4f} '
              + ''.join(f'{r[f"infer_batch{n}"]:14.4f} ' for n in batches)
              + f'{r["train"]:13.4f} {1 / r["train"]:7.2f} '
              + (f'{train_n / r[f"train_batch{train_n}"]:18.2f} ' if train_n > 1 else '')
              + f'{r["rss_infer_mb"] / 1024:8.2f}G {r["rss_mb"] / 1024:7.2f}G'
              + (f' {r["gpu_mb"] / 1024:8.2f}G' if cuda else ''))
    print('\nreference (not measured by this script):')
    for ref in REFERENCE:
        figures = ', '.join(f'{k} {v}' for k, v in ref.items() if k.endswith(('_s', '_gb')))
        print(f'  {ref["what"]}: {figures}\n    source: {ref["source"]}')


if __name__ == '__main__':
    main()
