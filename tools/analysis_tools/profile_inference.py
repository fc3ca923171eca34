"""Where the SSM's inference time goes, by component (the slice of tools/benchmark.py).

    python tools/analysis_tools/profile_inference.py [CONFIG] [--repeats 10]
        [--batch-size 1] [--threads N] [--device cpu|cuda] [--amp | --cpu-bf16]
        [--count-ops [--train]] [--out profile.json]

Wraps the methods of one forward pass with timers (inclusive times, nested as the
calls are) and prints the median seconds per slice of each, with its share of the
whole, on the same synthetic 512x512 slice as the benchmark, all 128 detections kept
(score threshold 0). Untrained weights: the work per slice is the same as a trained
model's with 128 detections.

``--count-ops`` counts instead of timing, on any device: per slice and stage, the
tensor operations one forward dispatches (view operations, which launch no kernel,
left out; mmcv's NMS calls included) and those of them that wait for the device on a
GPU (a value read on the host: ``nonzero``, ``item``/``bool()``, ``tolist``,
boolean-mask indexing, ``unique``, ``bincount``, an NMS call). An mmcv NMS call
counts as one operation and one wait on any device (its CPU kernel is made of tensor
operations, its CUDA one is not). On a GPU at large batches each launch costs a few
microseconds of host time and each wait drains the queue, so these counts are what
per-image Python loops cost there, measured on a CPU.
``--train`` counts one training iteration instead (segmentation + classification
step, each split into forward and losses, backward, optimizer step).
"""
import argparse
import os.path as osp

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT = osp.join(REPO, 'configs', 'ssm', 'ssm_r18-b3-aug_50e_cncb-covidx.py')


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', default=DEFAULT)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--amp', action='store_true', help='float16 autocast (CUDA only)')
    parser.add_argument('--cpu-bf16', action='store_true',
                        help="bfloat16 arithmetic on a CPU (model.cpu_bf16='inference')")
    parser.add_argument('--malloc-defaults', action='store_true',
                        help="keep glibc's malloc defaults (as benchmark.py)")
    parser.add_argument('--count-ops', action='store_true',
                        help='count operations and host waits per slice instead of timing')
    parser.add_argument('--train', action='store_true',
                        help='with --count-ops: count a training iteration instead')
    parser.add_argument('--out', help='also write the table as JSON here')
    args = parser.parse_args(argv)
    if args.amp and args.device != 'cuda':
        parser.error('--amp needs --device cuda (as tools/benchmark.py --amp)')
    if args.train and not args.count_ops:
        parser.error('--train counts a training iteration: it needs --count-ops')
    if args.train and args.amp:
        parser.error('--train counts float32 training (no --amp)')
    if args.cpu_bf16 and args.device != 'cpu':
        parser.error('--cpu-bf16 needs --device cpu')
    precision = 'AMP float16' if args.amp else \
        'bfloat16 arithmetic (cpu_bf16)' if args.cpu_bf16 else 'float32'

    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmdet_covid  # noqa: F401
    from mmdet.registry import MODELS
    from mmdet_covid.utils import reuse_freed_memory
    from mmdet_covid.utils.benchmark import autocast, copies, synthetic_slice
    from mmdet_covid.utils.forward_stages import STAGES, stage_seconds
    from mmdet_covid.utils.op_counter import TRAIN_STAGES, count_ops, count_train_ops

    if not args.malloc_defaults:
        reuse_freed_memory()

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    init_default_scope('mmdet')
    cfg.model.test_cfg.rcnn.score_thr = 0.0  # all 128 detections, as the benchmark
    if args.cpu_bf16:
        cfg.model.cpu_bf16 = 'inference'
    model = MODELS.build(cfg.model).to(args.device)
    model.init_weights()
    model.eval()
    seg, cls = synthetic_slice()
    batch = copies(seg, args.batch_size)
    where = torch.cuda.get_device_name(0) if args.device == 'cuda' \
        else f'{torch.get_num_threads()} threads'
    if args.count_ops:
        if args.train:
            counts = count_train_ops(model, batch, copies(cls, args.batch_size),
                                     args.batch_size)
            labels = TRAIN_STAGES
        else:
            with autocast(args.amp):
                counts = count_ops(model, batch, args.batch_size)
            labels = [label for label, _, _ in STAGES]
        print(f'{args.config}: {"training, " if args.train else ""}batch {args.batch_size}, '
              f'{where}, {precision}; per slice: operations dispatched (views left out) '
              f'and host waits on a GPU')
        for label in labels:
            print(f'{label:<70} {counts[label][0]:8.1f} {counts[label][1]:6.1f}')
        if args.out:
            from mmdet_covid.io.atomic_write import atomic_write_json
            atomic_write_json(dict(
                config=args.config, batch_size=args.batch_size, device=args.device,
                precision=precision, training=args.train,
                ops_per_slice={k.strip(): v[0] for k, v in counts.items()},
                host_waits_per_slice={k.strip(): v[1] for k, v in counts.items()}),
                args.out, indent=1)
        return
    with autocast(args.amp):
        medians = stage_seconds(model, batch, args.batch_size, args.repeats,
                                torch.cuda.synchronize if args.device == 'cuda'
                                else lambda: None)
    whole = medians[STAGES[0][0]]
    print(f'{args.config}: batch {args.batch_size}, {where}, '
          f'{precision}, '
          f'median of {args.repeats}, seconds per slice (inclusive)')
    for label, _, _ in STAGES:
        print(f'{label:<70} {medians[label]:8.4f}  {100 * medians[label] / whole:5.1f}%')
    if args.out:
        from mmdet_covid.io.atomic_write import atomic_write_json
        atomic_write_json(dict(config=args.config, batch_size=args.batch_size,
                               threads=torch.get_num_threads(), device=args.device,
                               gpu=torch.cuda.get_device_name(0)
                               if args.device == 'cuda' else None,
                               precision=precision,
                               repeats=args.repeats,
                               seconds_per_slice={k.strip(): v for k, v in medians.items()}),
                          args.out, indent=1)


if __name__ == '__main__':
    main()
