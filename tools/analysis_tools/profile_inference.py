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
import contextlib
import os.path as osp
import statistics
import sys
import time
from collections import defaultdict

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools'))
DEFAULT = osp.join(REPO, 'configs', 'ssm', 'ssm_r18-b3-aug_50e_cncb-covidx.py')

# (label, owner path from the model, method): each call is timed, nested by depth
STAGES = [
    ('whole forward (test_step)', '', 'test_step'),
    ('  backbone + neck (extract_feat)', '', 'extract_feat'),
    ('  RPN: head + proposals (rpn_head.predict)', 'rpn_head', 'predict'),
    ('  RoI box branch, both heads + selection (roi_head.predict_bbox)', 'roi_head',
     'predict_bbox'),
    ('    RoIAlign 7x7 (bbox_roi_extractor)', 'roi_head.bbox_roi_extractor', 'forward'),
    ('    segmentation box head (bbox_head)', 'roi_head.bbox_head', 'forward'),
    ('    image box head (image branch)', 'roi_head', '_image_forward'),
    ('    box post-processing + NMS (roi_head._post_process_boxes)', 'roi_head',
     '_post_process_boxes'),
    ('  RoI batch for S (roi_batch_from_kept)', 'roi_head', 'roi_batch_from_kept'),
    ('  classifier S', 'classifier', 'forward'),
    ('  masks (roi_head.predict_mask)', 'roi_head', 'predict_mask'),
    ('    RoIAlign 14x14 (mask_roi_extractor)', 'roi_head.mask_roi_extractor', 'forward'),
    ('    mask head convolutions (mask_head)', 'roi_head.mask_head', 'forward'),
    ('    paste at 512x512 (mask_head.predict_by_feat)', 'roi_head.mask_head',
     'predict_by_feat'),
]


def _owner(model, path: str):
    obj = model
    for part in filter(None, path.split('.')):
        obj = getattr(obj, part)
    return obj


def instrument(model, times: dict, sync=lambda: None, around=None) -> None:
    """Wrap each stage's method so that its calls add their seconds to ``times``
    (``sync``: called before each clock reading, e.g. ``torch.cuda.synchronize``;
    ``around(label)``: a context each call runs in, e.g. ``OpCounter.stage``)."""
    around = around or (lambda label: contextlib.nullcontext())
    for label, path, method in STAGES:
        owner = _owner(model, path)
        original = getattr(owner, method)

        def timed(*args, __original=original, __label=label, **kwargs):
            sync()
            start = time.perf_counter()
            try:
                with around(__label):
                    return __original(*args, **kwargs)
            finally:
                sync()
                times[__label] += time.perf_counter() - start

        setattr(owner, method, timed)


class OpCounter:
    """Counts the operations dispatched while stages run (see ``--count-ops``).

    Use as a context manager around the forward; :func:`instrument` with
    ``counter.stage`` as its ``around`` tells it which stages are running.
    """
    # operations whose result size or value the host must read from the device
    SYNCS = ('aten::nonzero', 'aten::_local_scalar_dense', 'aten::masked_select',
             'aten::_unique2', 'aten::unique_dim', 'aten::unique_consecutive',
             'aten::repeat_interleave.Tensor', 'aten::bincount')

    def __init__(self) -> None:
        self.ops = defaultdict(int)
        self.syncs = defaultdict(int)
        self._running = []
        self._inside_nms = False

    @contextlib.contextmanager
    def stage(self, label: str):
        self._running.append(label)
        try:
            yield
        finally:
            self._running.pop()

    def _count(self, sync: bool) -> None:
        if self._inside_nms:
            return
        for label in self._running:
            self.ops[label] += 1
            self.syncs[label] += sync

    def __enter__(self):
        import sys as _sys

        import torch
        from torch.utils._python_dispatch import TorchDispatchMode

        counter = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                if not func.is_view:
                    bool_index = func.name() in ('aten::index.Tensor', 'aten::index_put_',
                                                 'aten::index_put') and any(
                        isinstance(i, torch.Tensor) and i.dtype == torch.bool
                        for i in (args[1] if len(args) > 1 else ()) if i is not None)
                    counter._count(func.name() in counter.SYNCS or bool_index)
                return func(*args, **(kwargs or {}))

        def counted(original, kernel):
            def call(*a, **k):
                counter._count(True)
                # mmcv's CPU NMS is C++ made of tensor operations, its CUDA NMS
                # a kernel: one operation whatever the device
                counter._inside_nms = kernel
                try:
                    return original(*a, **k)
                finally:
                    counter._inside_nms = False
            return call

        ext = _sys.modules['mmcv.ops.nms'].ext_module
        self._patched = [(owner, name, getattr(owner, name), name in vars(owner))
                         for owner, name in ((ext, 'nms'), (torch.Tensor, 'tolist'))]
        for owner, name, original, _ in self._patched:
            setattr(owner, name, counted(original, kernel=name == 'nms'))
        self._mode = _Mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._mode.__exit__(*exc)
        for owner, name, original, own in self._patched:
            if own:
                setattr(owner, name, original)
            else:  # inherited (Tensor.tolist): remove the override
                delattr(owner, name)


def count_ops(model, batch: dict, batch_size: int) -> dict:
    """``{stage: (operations, host waits)}`` per slice of one forward (after one
    uncounted forward)."""
    import torch

    counter = OpCounter()
    instrument(model, defaultdict(float), around=counter.stage)
    with torch.no_grad():
        model.test_step(batch)
        with counter:
            model.test_step(batch)
    return {label: (counter.ops[label] / batch_size, counter.syncs[label] / batch_size)
            for label, _, _ in STAGES}


TRAIN_STAGES = [f'{step} step: {part}' for step in ('segmentation', 'classification')
                for part in ('whole', 'forward + losses', 'backward', 'optimizer step')]


def count_train_ops(model, seg: dict, cls: dict, batch_size: int) -> dict:
    """``{stage: (operations, host waits)}`` per slice of one training iteration
    (segmentation step + classification step, with the optimizer
    ``tools/benchmark.py`` times it with: Adam), after one uncounted iteration.
    Adam runs its CPU loop over the parameters on a CPU; on CUDA its
    multi-tensor path launches fewer kernels."""
    from benchmark import train_optim_wrapper

    model.train()
    wrapper = train_optim_wrapper(model)
    counter = OpCounter()
    for part, method in (('backward', 'backward'), ('optimizer step', 'step')):
        original = getattr(wrapper, method)

        def counted(*args, __original=original, __part=part, **kwargs):
            if not counter._running:  # the uncounted iteration
                return __original(*args, **kwargs)
            with counter.stage(f'{counter._running[0]} {__part}'):
                return __original(*args, **kwargs)
        setattr(wrapper, method, counted)
    for data in (seg, cls):
        model.train_step(data, wrapper)
    with counter:
        for step, data in (('segmentation step:', seg), ('classification step:', cls)):
            with counter.stage(step):
                model.train_step(data, wrapper)
    out = {}
    for step in ('segmentation step:', 'classification step:'):
        whole, backward, opt = (
            (counter.ops[k], counter.syncs[k]) for k in
            (step, f'{step} backward', f'{step} optimizer step'))
        forward = tuple(w - b - o for w, b, o in zip(whole, backward, opt))
        for part, (ops, syncs) in zip(('whole', 'forward + losses', 'backward',
                                       'optimizer step'),
                                      (whole, forward, backward, opt)):
            out[f'{step} {part}'] = (ops / batch_size, syncs / batch_size)
    return out


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
    from benchmark import _copies, _slice, autocast
    from mmdet.registry import MODELS
    from mmdet_covid.utils import reuse_freed_memory

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
    seg, cls = _slice()
    batch = _copies(seg, args.batch_size)
    where = torch.cuda.get_device_name(0) if args.device == 'cuda' \
        else f'{torch.get_num_threads()} threads'
    if args.count_ops:
        if args.train:
            counts = count_train_ops(model, batch, _copies(cls, args.batch_size),
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
    runs = defaultdict(list)
    times = defaultdict(float)
    instrument(model, times, torch.cuda.synchronize if args.device == 'cuda' else lambda: None)
    with torch.no_grad(), autocast(args.amp):
        for i in range(args.repeats + 2):
            times.clear()
            model.test_step(batch)
            if i >= 2:  # two warm-up passes
                for label, _, _ in STAGES:
                    runs[label].append(times.get(label, 0.0) / args.batch_size)
    medians = {label: statistics.median(runs[label]) for label, _, _ in STAGES}
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
