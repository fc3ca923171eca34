"""Analyse one whole CT scan: the scan-level class and the lesion burden, with a report.

INPUT is a DICOM series folder (pydicom, compressed transfer syntaxes included; slices
ordered by position, HU from RescaleSlope/Intercept), a NIfTI volume, or a folder of slice
images (no physical units). Writes to ``--out-dir``: ``report.json``, ``slices.csv``,
``lesions.nii.gz`` (lesion labels on the input's geometry: 1 ground glass, 2
consolidation), ``lesions_seg.dcm`` (DICOM-SEG referencing the series, DICOM input only),
``lobes.csv`` (with ``--lobes``: burden per lobe and the 25-point CT severity score) and
``report.html``. The folder is written whole or not at all; an existing report is
replaced only with ``--overwrite``; a folder inside the input is refused.

Everything is checked before the model is loaded: the arguments, the output folder, the
input. Exit status: 0 done; 1 no slice could be analysed (no lung found); 2 a bad
argument, input or output folder (nothing written); 3 some outputs could not be written
(the others were; ``report.json`` lists what failed).

Research use only; not a medical device. Every output says what the model was trained
on, and that its results are not validated on real CT where it never saw one.

Example::

    python tools/analyze_scan.py configs/ssm/ssm_r18-b3-aug_demo_phantom.py \\
        work_dirs/demo/epoch_1.pth data/phantom/scans/scan_000_COVID19/dicom \\
        --out-dir work_dirs/demo/scan_report
"""
import argparse
import os.path as osp
import sys
import time
import warnings


def parse_args(argv=None) -> argparse.Namespace:
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(description='Scan-level class and lesion burden of one '
                                                 'CT scan (research use only).')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('input', help='DICOM series folder, NIfTI volume, or folder of slice '
                                      'images')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an earlier report in --out-dir')
    parser.add_argument('--series', default=None, metavar='UID',
                        help='SeriesInstanceUID to read (default: the axial CT series with '
                             'most slices)')
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--lesion-score-thr', type=float, default=0.75,
                        help='detections from this score are lesions (the paper\'s 0.75)')
    parser.add_argument('--min-lesion-slices', type=int, default=1,
                        help='lesion slices needed to call the scan diseased')
    parser.add_argument('--consolidation-hu', type=float, default=-300.0,
                        help='lesion voxels from this HU are consolidation, below it GGO')
    parser.add_argument('--lung-threshold-hu', type=float, default=-500.0)
    parser.add_argument('--lesion-margin-mm', type=float, default=3.0,
                        help='a detection counts when it comes this close to the lung')
    parser.add_argument('--fit-canvas', action='store_true',
                        help='give the model the box of the lungs and 16 mm around it '
                             'instead of its whole input size: faster, the lesions in the '
                             'lung barely change, the slice class does '
                             '(docs/scan_analysis.md)')
    parser.add_argument('--lobes', default=None, metavar='LABELS',
                        help='lung lobe labels (NIfTI on the scan\'s grid, from '
                             'TotalSegmentator total or lungmask LTRCLobes): burden per lobe '
                             'and the 25-point CT severity score')
    parser.add_argument('--lobe-labels', default=None, metavar='1:LUL,...',
                        help='the lobe values when neither convention applies, e.g. '
                             '13:LUL,14:LLL,15:RUL,16:RML,17:RLL (TotalSegmentator v1)')
    parser.add_argument('--force', action='store_true',
                        help='read a DICOM series whose Modality is not CT, or values that '
                             'do not look like HU (with a warning)')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config keys (mmengine syntax)')
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """Refuse values no analysis can use (a ValueError naming the option)."""
    if args.batch_size < 1:
        raise ValueError(f'--batch-size {args.batch_size}: expected at least 1')
    if not 0.0 <= args.lesion_score_thr <= 1.0:
        raise ValueError(f'--lesion-score-thr {args.lesion_score_thr}: expected a score '
                         'from 0 to 1')
    if args.min_lesion_slices < 1:
        raise ValueError(f'--min-lesion-slices {args.min_lesion_slices}: expected at least 1')
    if not args.lesion_margin_mm >= 0:
        raise ValueError(f'--lesion-margin-mm {args.lesion_margin_mm}: expected 0 or more')


def main(argv=None) -> int:
    args = parse_args(argv)
    import mmdet_covid  # noqa: F401
    from mmdet_covid.apis import analyze_scan, init_ssm, read_scan
    from mmdet_covid.apis.scan_analysis import FIT_MARGIN_MM
    from mmdet_covid.io.ct_io import CTInputWarning, CTReadError
    from mmdet_covid.io.output_folder import OutputFolderError, check_output_folder
    from mmdet_covid.scan.lobes import load_lobes
    from mmdet_covid.scan.report import write_report
    from mmdet_covid.utils import reuse_freed_memory
    from mmdet_covid.utils.stage_meter import StageMeter

    start = time.perf_counter()
    meter = StageMeter()
    warnings.simplefilter('ignore', CTInputWarning)  # collected in the report, printed below
    try:  # everything that can be refused is, before the model is loaded
        check_args(args)
        check_output_folder(args.out_dir, [args.input], args.overwrite)
        with meter('read'):
            volume = read_scan(args.input, args.series, args.force)
        if args.lobe_labels and not args.lobes:
            raise ValueError('--lobe-labels needs --lobes')
        lobes = load_lobes(args.lobes, volume, args.lobe_labels) if args.lobes else None
        for kind, path in (('config', args.config), ('checkpoint', args.checkpoint)):
            if not osp.isfile(path):
                raise FileNotFoundError(f'{kind} {path}: no such file')
    except (ValueError, CTReadError, OutputFolderError, FileNotFoundError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    reuse_freed_memory()  # large tensors not page-faulted in anew per slice
    with meter('model_load'):
        model = init_ssm(args.config, args.checkpoint, device=args.device,
                         cfg_options=args.cfg_options)
    analysis = analyze_scan(
        model, volume, batch_size=args.batch_size,
        lesion_score_thr=args.lesion_score_thr, min_lesion_slices=args.min_lesion_slices,
        consolidation_hu=args.consolidation_hu, lung_threshold_hu=args.lung_threshold_hu,
        lesion_margin_mm=args.lesion_margin_mm, checkpoint=args.checkpoint, lobes=lobes,
        fit_margin_mm=FIT_MARGIN_MM if args.fit_canvas else None, meter=meter,
        progress=not args.no_progress)
    analysis.timings['total_with_model_load'] = time.perf_counter() - start
    try:
        with meter('write'):
            paths, errors = write_report(analysis, args.out_dir, overwrite=args.overwrite)
    except (OutputFolderError, OSError) as exc:  # e.g. the folder appeared meanwhile
        print(f'error: no report written to {args.out_dir}: {exc}', file=sys.stderr)
        return 2
    scan, burden, counts = analysis.scan, analysis.burden['total'], analysis.counts
    print(f'{args.input}: {counts["slices"]} slices, {counts["analysed"]} analysed, '
          f'{counts["skipped_no_lung"]} without lung')
    for notice in analysis.notices:
        print(f'NOT VALIDATED: {notice}')
    if scan:
        probs = ', '.join(f'{c} {p:.1%}' for c, p in scan['probabilities'].items())
        print(f'scan class: {scan["class"]} ({probs}; {scan["lesion_slices"]} lesion slices)')
    unit = 'mL' if 'lesion_ml' in burden else 'voxels'
    key = 'ml' if unit == 'mL' else 'voxels'
    pct = burden['lesion_percent']
    print(f'lesions: {burden[f"lesion_{key}"]:.1f} {unit} of {burden[f"lung_{key}"]:.1f} {unit} '
          f'lung ({"-" if pct is None else f"{pct:.1f}%"}); ground glass '
          f'{burden[f"ggo_{key}"]:.1f}, consolidation {burden[f"consolidation_{key}"]:.1f}; '
          f'{counts["detections_outside_lung"]} detection(s) outside the lung not counted')
    if analysis.lobes:
        score = analysis.lobes['severity_score']
        print(f'CT severity score: {"-" if score is None else score} of '
              f'{analysis.lobes["max_score"]} (' + ', '.join(
                  f'{name} {"-" if r["score"] is None else r["score"]}'
                  for name, r in analysis.lobes['lobes'].items()) + ')')
    for note in analysis.warnings:
        print(f'warning: {note}')
    stages = ', '.join(f'{stage} {seconds:.1f} s' for stage, seconds in meter.seconds.items()
                       if stage != 'total_with_model_load')
    peak = max(meter.peak_rss_mb.values(), default=None)
    print(f'time: {time.perf_counter() - start:.1f} s ({stages})'
          + ('' if peak is None else f'; peak memory {peak / 1024:.2f} GB'))
    for error in errors.values():
        print(f'error: not written: {error}', file=sys.stderr)
    if 'html' in paths:
        print(f'report: {osp.abspath(paths["html"])}')
    print(f'outputs: {", ".join(osp.basename(p) for p in paths.values())} in '
          f'{osp.abspath(args.out_dir)}')
    print('Research use only; not a medical device.')
    if errors:
        return 3
    return 0 if counts['analysed'] else 1


if __name__ == '__main__':
    sys.exit(main())
