"""The main job (`make demo`): phantom -> converters -> train -> test -> table.

    python tools/demo.py [--work-dir work_dirs/demo] [--seg 300] [--cls 1500]
                         [--joint-iters N] [--train-seed S] [--recipe auto|bf16|fp32]

1. writes the synthetic chest-CT phantom in the raw CNCB-nCoV / COVIDx-CT
   formats and converts it (``tools/prepare_phantom.sh``; reused when the
   same arguments were used before);
2. trains the augmented ResNet18 (blocks 1-3) SSM from scratch in two stages:
   a segmentation-only warm-up
   (``configs/ssm/ssm_r18-b3-aug_demo-warmup_phantom.py``), then the joint
   phase of the paper, both steps per iteration
   (``configs/ssm/ssm_r18-b3-aug_demo_phantom.py``), in bfloat16 arithmetic
   on a CPU that computes it natively; elsewhere in float32 on 384x384 slices
   (``ssm_r18-b3-aug_demo-384-warmup_phantom.py``,
   ``ssm_r18-b3-aug_demo-384_phantom.py``; ``--recipe`` forces one);
3. tests it on the lesion test set and the classification test split in one
   run (``DualTaskTestLoop``);
4. draws overlays of a few test slices (lesion masks and boxes, predicted
   class and probabilities) and prints one table of the results, next to
   chance, the ResNet18 baseline and the learning curve of the same recipe;
5. analyses one whole-scan phantom (a COVID-19 patient written as a DICOM
   series, ``tools/make_phantom_scan.py``) as ``tools/analyze_scan.py`` does
   and prints where its report is (``--scan-slices 0`` skips it).

The full log and metrics are in the work dir; the console shows progress bars.
"""
import argparse
import contextlib
import json
import logging
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# (warm-up, joint phase) per recipe: bfloat16 at 512x512 where the CPU computes bfloat16
# natively, float32 at 384x384 elsewhere (where bfloat16 would fall back to float32 and
# the 512x512 recipe takes twice the demo's 15 minutes)
RECIPES = {
    'bf16': ('ssm_r18-b3-aug_demo-warmup_phantom.py', 'ssm_r18-b3-aug_demo_phantom.py'),
    'fp32': ('ssm_r18-b3-aug_demo-384-warmup_phantom.py', 'ssm_r18-b3-aug_demo-384_phantom.py'),
}
TARGETS = {'cls/f1_weighted': 0.90, 'seg/segm_mAP_50': 0.60}
# The learning curve of the same recipe, measured over longer training
# (docs/phantom_results.md): what the demo's figures are compared with.
CURVE = osp.join(REPO, 'docs', 'results', 'phantom_curve.json')


def prepare_data(data_root: str, seg: int, cls: int, seed: int) -> None:
    """Run tools/prepare_phantom.sh unless the same phantom is already there."""
    # (a phantom of the generator's older defaults is written anew)
    from mmdet_covid.datasets.phantom import GENERATOR_VERSION, HARD_FRAC
    wanted = dict(seg=seg, cls=cls, size=512, seed=seed, slices_per_patient=2,
                  hard_frac=HARD_FRAC)
    from mmdet_covid.datasets.data_source import read_data_source

    meta = osp.join(data_root, 'phantom.json')
    test_ann = osp.join(data_root, 'annotations', 'covidx_test.json')
    # (annotations without their data source predate its record: converted anew)
    if osp.exists(meta) and osp.exists(test_ann) and read_data_source(test_ann):
        with open(meta) as f:
            written = json.load(f)
        args = written.get('args', {})
        if written.get('generator_version') == GENERATOR_VERSION and all(
                args.get(k) == v for k, v in wanted.items()):
            print(f'[demo] reusing the phantom in {data_root}')
            return
    print(f'[demo] writing the phantom to {data_root} and converting it')
    cmd = ['bash', osp.join(REPO, 'tools', 'prepare_phantom.sh'), data_root,
           '--seg', str(seg), '--cls', str(cls), '--size', '512', '--seed', str(seed)]
    subprocess.run(cmd, check=True, env=dict(os.environ, PYTHON=sys.executable))


def build_runner(cfg):
    """A Runner whose INFO log goes to its log file only: the console keeps
    the progress bars, warnings and the final table."""
    from mmengine.registry import RUNNERS

    console = sys.stdout
    with open(os.devnull, 'w') as devnull, contextlib.redirect_stdout(devnull):
        # the config's SSMRunner; logs the environment and hooks at start
        runner = RUNNERS.build(cfg)
        for handler in runner.logger.handlers:  # created on devnull: back to the console
            if type(handler) is logging.StreamHandler:
                handler.setStream(console)
                handler.setLevel(logging.WARNING)
    return runner


def train_stage(cfg, title: str, config: str):
    """Build a runner from ``cfg``, train it; the runner and the seconds taken."""
    runner = build_runner(cfg)
    print(f'[demo] {title}: {osp.relpath(config, REPO)} (log: {runner.log_dir})')
    start = time.time()
    runner.train()
    return runner, time.time() - start


def demo_cfg(config: str, work_dir: str, data_root: str, train_seed: int = None,
             progress_keys=('seg_loss', 'slice_loss')):
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    if train_seed is not None:
        cfg.randomness.seed = train_seed
    cfg.custom_hooks.append(dict(type='ProgressBarHook', keys=progress_keys))

    # --data-root: the configs' data-root keys (SSMRunner applies them)
    cfg.seg_data_root = cfg.cls_data_root = data_root.rstrip('/') + '/'
    return cfg


def draw_overlays(model, cfg, data_root: str, out_dir: str, per_class: int = 2) -> list:
    """Overlays of ``per_class`` classification test slices per class."""
    from mmdet.registry import VISUALIZERS
    import torch

    from mmdet_covid.apis import inference_ct_slices
    from mmdet_covid.datasets import LoadCTSlice

    with open(osp.join(data_root, 'annotations', 'covidx_test.json')) as f:
        items = json.load(f)['data_list']
    chosen = []
    for label in range(3):
        chosen += [it for it in items if it['gt_label'] == label][:per_class]
    paths = [osp.join(data_root, 'cls', it['img_path']) for it in chosen]
    model.cfg = cfg
    visualizer = VISUALIZERS.build(dict(type='SSMVisualizer', name='demo_overlays'))
    visualizer.dataset_meta = dict(classes=('lesion', ))
    os.makedirs(out_dir, exist_ok=True)
    loader, written = LoadCTSlice(), []
    for item, sample in zip(chosen, inference_ct_slices(model, paths)):
        sample.gt_label = torch.tensor([item['gt_label']])
        out_file = osp.join(out_dir, osp.splitext(osp.basename(item['img_path']))[0] + '.png')
        image = loader(dict(img_path=sample.img_path))['img'][..., ::-1]
        visualizer.add_datasample('overlay', image, sample, draw_gt=False, show=False,
                                  pred_score_thr=0.5, out_file=out_file)
        written.append(out_file)
    return written


def analyse_phantom_scan(model, checkpoint: str, data_root: str, seed: int, out_dir: str,
                         slices: int = 40) -> dict:
    """Write one whole-scan phantom (a COVID-19 patient, DICOM series) unless it is there,
    analyse it with the trained model (tools/analyze_scan.py's API), write the report."""
    from mmdet_covid.apis import analyze_scan
    from mmdet_covid.datasets.phantom import write_scan
    from mmdet_covid.scan.report import write_report
    from mmdet_covid.utils.provenance import read_training_data

    model.training_data = read_training_data(checkpoint)  # as init_ssm sets it

    folder = osp.join(data_root, 'scans', 'scan_000_COVID19')
    truth_file = osp.join(folder, 'truth.json')
    truth = None
    if osp.exists(truth_file):
        with open(truth_file) as f:
            truth = json.load(f)
    if not truth or truth.get('seed') != seed or \
            truth.get('shape_slices_rows_columns') != [slices, 512, 512]:
        print(f'[demo] writing a whole-scan phantom to {folder}')
        truth = write_scan(osp.dirname(folder), osp.basename(folder), 'COVID-19', slices,
                           512, seed)
    start = time.time()
    analysis = analyze_scan(model, osp.join(folder, 'dicom'), batch_size=4,
                            checkpoint=checkpoint)
    paths, errors = write_report(analysis, out_dir, overwrite=True)
    for error in errors.values():
        print(f'[demo] scan report: not written: {error}')
    total = analysis.burden['total']
    return {'input': osp.join(folder, 'dicom'), 'truth_class': truth['cls'],
            'truth_lesion_ml': truth['ml']['lesion'],
            'truth_lesion_percent': truth['lesion_percent_of_lung'],
            'class': analysis.scan['class'] if analysis.scan else None,
            'lesion_ml': total['lesion_ml'], 'lesion_percent': total['lesion_percent'] or 0.0,
            'seconds': time.time() - start, 'report': paths.get('html')}


def print_table(metrics: dict, warmup: tuple, joint: tuple, total_s: float,
                score_thr: float) -> None:
    """One table: segmentation AP, classification results, times."""
    (warmup_s, warmup_iters), (train_s, iters) = warmup, joint
    sections = [
        (f'Lesion segmentation, phantom lesion test set (COCO segm, scores >= {score_thr})', [
            ('AP@0.5', metrics.get('seg/segm_mAP_50'), ''),
            ('AP@0.75', metrics.get('seg/segm_mAP_75'), ''),
            ('mAP = AP@[0.5:0.95]', metrics.get('seg/segm_mAP'), ''),
            ('box AP@0.5', metrics.get('seg/bbox_mAP_50'), ''),
        ]),
        ('Slice classification, phantom COVIDx-CT test split', [
            *[(f'sensitivity {c}', metrics.get(f'cls/sensitivity_{c}'), '%')
              for c in ('COVID-19', 'CP', 'Normal')],
            ('accuracy', metrics.get('cls/accuracy'), '%'),
            ('F1, support-weighted (paper)', metrics.get('cls/f1_weighted'), ''),
            ('F1, macro', metrics.get('cls/f1_macro'), ''),
        ]),
        ('Per patient, same split (the scan rule of tools/analyze_scan.py)', [
            ('patients', metrics.get('patient/patients'), 'n'),
            *[(f'sensitivity {c}', metrics.get(f'patient/sensitivity_{c}'), '%')
              for c in ('COVID-19', 'CP', 'Normal')],
            ('accuracy', metrics.get('patient/accuracy'), '%'),
            ('F1, support-weighted', metrics.get('patient/f1_weighted'), ''),
        ]),
        ('Time (this machine)', [
            (f'warm-up, {warmup_iters} segmentation steps (s)', warmup_s, ''),
            (f'joint, {iters} iterations (s)', train_s, ''),
            ('s / joint iteration (seg + cls step)', train_s / max(iters, 1), ''),
            ('demo wall time (s)', total_s, ''),
        ]),
    ]
    print('\n' + '=' * 64)
    for title, rows in sections:
        print(title)
        for name, value, unit in rows:
            shown = 'n/a' if value is None else f'{value:.0f}' if unit == 'n' else \
                f'{value:.4f}' if unit == '' and value < 10 else f'{value:.2f}'
            suffix = unit if value is not None and unit != 'n' else ''
            print(f'    {name:<36} {shown}{suffix}')
    print('=' * 64)
    for key, target in TARGETS.items():
        value = metrics.get(key)
        verdict = 'n/a' if value is None else ('met' if value >= target else 'NOT met')
        print(f'target {key} >= {target}: {verdict}')


def print_reference_levels(iters: int, s_per_iter: float) -> None:
    """Chance, the plain classifier, and the learning curve at this budget."""
    print('Reference levels (three balanced classes)')
    print('    chance: uniform guess accuracy 33.3%, weighted F1 0.333; '
          'one class for all: F1 0.167')
    if not osp.exists(CURVE):
        return
    with open(CURVE) as f:
        curve = json.load(f)
    baseline = curve.get('resnet18')
    if baseline:
        print(f'    ResNet18 classifier ({baseline["recipe"]}): weighted F1 '
              f'{baseline["f1_weighted"]:.3f} on the same test split')
    rows = [r for r in curve.get('ssm', [])
            if r.get('cls/f1_weighted') is not None and r.get('seg/segm_mAP_50') is not None]
    if not rows:
        return
    at = min(rows, key=lambda r: abs(r['iter'] - iters))
    print(f'    learning curve at {at["iter"]} iterations: weighted F1 '
          f'{at["cls/f1_weighted"]:.3f}, segm AP@0.5 {at["seg/segm_mAP_50"]:.3f}')
    reached = [r for r in rows if all((r.get(k) or 0) >= t for k, t in TARGETS.items())]
    if reached:
        first = reached[0]['iter']
        print(f'    the curve meets both targets from {first} iterations on: about '
              f'{first * s_per_iter / 60:.0f} min of training on this machine')
    else:
        print(f'    the curve did not meet both targets in its {rows[-1]["iter"]} '
              f'iterations')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'demo'))
    parser.add_argument('--data-root', default=osp.join(REPO, 'data', 'phantom'))
    parser.add_argument('--seg', type=int, default=300, help='lesion-set slices')
    parser.add_argument('--cls', type=int, default=1500, help='classification slices')
    parser.add_argument('--seed', type=int, default=0, help='seed of the phantom')
    parser.add_argument('--train-seed', type=int, default=None,
                        help='seed of the training run (default: the config\'s, 0)')
    parser.add_argument('--scan-slices', type=int, default=40,
                        help='slices of the whole-scan phantom analysed at the end (0: none)')
    parser.add_argument('--joint-iters', type=int, default=None,
                        help='iterations of the joint phase (default: the config\'s)')
    parser.add_argument('--recipe', choices=('auto', *RECIPES), default='auto',
                        help='bf16: 512x512 in bfloat16; fp32: 384x384 in float32; auto: '
                             'bf16 where the CPU computes bfloat16 natively, else fp32')
    args = parser.parse_args()
    start = time.time()
    data_root = osp.abspath(args.data_root)

    prepare_data(data_root, args.seg, args.cls, args.seed)

    import mmdet_covid  # noqa: F401
    from mmdet_covid.utils.machine import cpu_model, native_bf16

    recipe = args.recipe if args.recipe != 'auto' else 'bf16' if native_bf16() else 'fp32'
    warmup_config, config = (osp.join(REPO, 'configs', 'ssm', name) for name in RECIPES[recipe])
    print(f'[demo] recipe {recipe}: this CPU ({cpu_model()}) '
          f'{"computes" if native_bf16() else "does not compute"} bfloat16 natively'
          + (' (--recipe chose it)' if args.recipe != 'auto' else ''))

    work_dir = osp.abspath(args.work_dir)
    cfg = demo_cfg(warmup_config, osp.join(work_dir, 'warmup'), data_root, args.train_seed,
                   progress_keys=('loss', ))
    # no validation after the warm-up (14 s of the budget): the model is tested at the
    # end, and the learning curve (docs/phantom_results.md) gives the warm-up's AP
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    runner, warmup_s = train_stage(cfg, 'stage 1, segmentation warm-up', warmup_config)
    warmup_iters = runner.iter
    warmup_ckpt = osp.join(cfg.work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')

    cfg = demo_cfg(config, work_dir, data_root, args.train_seed)
    cfg.load_from = warmup_ckpt
    if args.joint_iters:
        cfg.train_cfg.max_iters = args.joint_iters
    runner, train_s = train_stage(cfg, 'stage 2, joint training', config)
    iters = runner.iter

    cfg = demo_cfg(config, work_dir, data_root, args.train_seed)
    cfg.load_from = osp.join(work_dir, 'epoch_1.pth')
    tester = build_runner(cfg)
    print(f'[demo] testing {cfg.load_from}')
    metrics = tester.test()
    overlays = draw_overlays(tester.model, cfg, data_root, osp.join(work_dir, 'overlays'))

    scan = None
    if args.scan_slices > 0:
        scan = analyse_phantom_scan(tester.model, cfg.load_from, data_root, args.seed,
                                    osp.join(work_dir, 'scan_report'), args.scan_slices)
    total_s = time.time() - start
    from mmdet_covid.io.atomic_write import atomic_write_json
    from mmdet_covid.utils.strict_json import strict_json
    atomic_write_json(strict_json(dict(
        cpu=cpu_model(), native_bf16=native_bf16(), recipe=recipe,
        configs=[osp.relpath(c, REPO) for c in (warmup_config, config)], metrics=metrics,
        warmup_seconds=warmup_s, warmup_iterations=warmup_iters, joint_seconds=train_s,
        joint_iterations=iters, wall_seconds=total_s, scan_analysis=scan)),
        osp.join(work_dir, 'demo_results.json'), indent=2)
    print_table(metrics, (warmup_s, warmup_iters), (train_s, iters), total_s,
                cfg.model.test_cfg.rcnn.score_thr)
    print_reference_levels(iters, train_s / max(iters, 1))
    print(f'[demo] overlays: {osp.dirname(overlays[0]) if overlays else "none"} '
          f'({len(overlays)} slices); metrics: {work_dir}/demo_results.json')
    if scan is None:
        return
    print(f'[demo] scan analysis of {scan["input"]} (truth: {scan["truth_class"]}, lesions '
          f'{scan["truth_lesion_ml"]:.1f} mL = {scan["truth_lesion_percent"]:.1f}% of the lung): '
          f'class {scan["class"]}, lesions {scan["lesion_ml"]:.1f} mL = '
          f'{scan["lesion_percent"]:.1f}% ({scan["seconds"]:.0f} s)')
    print(f'[demo] scan report: {scan["report"]}')


if __name__ == '__main__':
    main()
