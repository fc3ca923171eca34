"""Analyse every scan of an archive with one model load: one report folder per scan, and
a summary of all.

INPUT is a folder tree (every DICOM series, found by SeriesInstanceUID wherever its files
lie, and every NIfTI volume) or a CSV manifest (columns ``path``, optionally
``series_uid`` and ``patient_id``; paths relative to the manifest). Writes to
``--out-dir``:

- ``series/<name>/``: the scan's report, as ``tools/analyze_scan.py`` writes it
  (``report.json``, ``slices.csv``, ``lesions.nii.gz``, ``lesions_seg.dcm`` for DICOM,
  ``report.html``), written whole or not at all; ``<name>`` is the input's path below
  the root (``/`` as ``__``) and, for DICOM, 8 hex digits of the series UID's SHA-1;
- ``summary.csv``, ``summary.json``, ``index.html``: one row per scan (patient, class,
  burden, ground glass, consolidation, warnings, a link to its report, or why it failed).

A rerun skips the scans whose report was made from the same input files, config,
checkpoint and settings (``--force`` redoes them). A scan that fails (unreadable, not
CT, no lung) is recorded with its reason and the run goes on.

``--engine ray`` runs the scans on Ray actors (Ray Data ``map_batches``; each actor
loads the model once): a local Ray with ``--workers`` actors, or a running cluster with
``--ray-address`` (``ray start --head`` on the head node; the package, the config, the
checkpoint and the archive must be reachable on every node at the same paths).

Exit status: 0 every scan analysed or reused; 1 some scan failed (see the summary);
2 a bad argument, input or output folder (nothing analysed).

Research use only; not a medical device.

Example::

    python tools/analyze_archive.py /data/archive \\
        configs/ssm/ssm_r18-b3-aug_demo_phantom.py work_dirs/demo/epoch_1.pth \\
        --out-dir work_dirs/archive
"""
import argparse
import os
import os.path as osp
import sys
import time
import warnings


def parse_args(argv=None) -> argparse.Namespace:
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(description='Scan class and lesion burden of every scan '
                                                 'of an archive (research use only).')
    parser.add_argument('input', help='the archive\'s root folder, or a CSV manifest')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--engine', choices=('local', 'ray'), default='local')
    parser.add_argument('--workers', type=int, default=1,
                        help='Ray actors, each with one model (--engine ray)')
    parser.add_argument('--cpus-per-worker', type=int, default=None,
                        help='CPUs and torch threads per Ray actor (default: the local '
                             'CPUs divided among the workers, or 1 on a cluster)')
    parser.add_argument('--ray-address', default=None,
                        help='a running Ray cluster (default: start a local one)')
    parser.add_argument('--force', action='store_true',
                        help='analyse again the scans whose report exists for the same '
                             'input, config, checkpoint and settings')
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--lesion-score-thr', type=float, default=0.75)
    parser.add_argument('--min-lesion-slices', type=int, default=1)
    parser.add_argument('--consolidation-hu', type=float, default=-300.0)
    parser.add_argument('--lung-threshold-hu', type=float, default=-500.0)
    parser.add_argument('--lesion-margin-mm', type=float, default=3.0)
    parser.add_argument('--fit-canvas', action='store_true',
                        help='the lungs\' box and 16 mm around it instead of the model\'s '
                             'whole input size (as tools/analyze_scan.py --fit-canvas)')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config keys (mmengine syntax)')
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """Refuse values no run can use (a ValueError naming the option)."""
    for name in ('workers', 'batch_size'):
        if getattr(args, name) < 1:
            raise ValueError(f'--{name.replace("_", "-")} {getattr(args, name)}: expected at '
                             'least 1')
    if args.cpus_per_worker is not None and args.cpus_per_worker < 1:
        raise ValueError(f'--cpus-per-worker {args.cpus_per_worker}: expected at least 1')
    if not 0.0 <= args.lesion_score_thr <= 1.0:
        raise ValueError(f'--lesion-score-thr {args.lesion_score_thr}: expected 0 to 1')
    if args.engine == 'local' and (args.workers != 1 or args.ray_address):
        raise ValueError('--workers and --ray-address need --engine ray')
    for kind, path in (('config', args.config), ('checkpoint', args.checkpoint)):
        if not osp.isfile(path):
            raise ValueError(f'{kind} {path}: no such file')


def main(argv=None) -> int:
    args = parse_args(argv)
    import mmdet_covid  # noqa: F401
    from tqdm import tqdm

    from mmdet_covid.apis.archive_analysis import analyse_local, analyse_ray
    from mmdet_covid.apis.scan_analysis import FIT_MARGIN_MM
    from mmdet_covid.io.archive_inputs import ArchiveInputError, archive_scans
    from mmdet_covid.io.ct_io import CTInputWarning
    from mmdet_covid.io.output_folder import check_output_folder
    from mmdet_covid.scan.archive_summary import status_counts, write_summary

    start = time.perf_counter()
    warnings.simplefilter('ignore', CTInputWarning)  # each report lists its own
    try:
        check_args(args)
        # an earlier run's output folder is expected: the scans' reports are reused
        check_output_folder(args.out_dir, [args.input], overwrite=True)
        jobs, skipped = archive_scans(args.input)
        if not jobs:
            raise ArchiveInputError(f'{args.input}: no DICOM series and no NIfTI volume found'
                                    f' ({len(skipped)} other file(s))')
    except (ValueError, OSError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(f'{args.input}: {len(jobs)} scan(s); {len(skipped)} other file(s) not read'
          + (f' (e.g. {next(iter(skipped))}: {next(iter(skipped.values()))})'
             if skipped else ''))
    settings = dict(batch_size=args.batch_size, lesion_score_thr=args.lesion_score_thr,
                    min_lesion_slices=args.min_lesion_slices,
                    consolidation_hu=args.consolidation_hu,
                    lung_threshold_hu=args.lung_threshold_hu,
                    lesion_margin_mm=args.lesion_margin_mm,
                    fit_margin_mm=FIT_MARGIN_MM if args.fit_canvas else None)
    analyser_args = dict(config=args.config, checkpoint=args.checkpoint,
                         out_dir=args.out_dir, device=args.device, force=args.force,
                         cfg_options=args.cfg_options, **settings)
    if args.engine == 'ray':
        cpus = args.cpus_per_worker or (1 if args.ray_address else
                                        max(1, (os.cpu_count() or 1) // args.workers))
        rows_iter = analyse_ray(jobs, workers=args.workers, address=args.ray_address,
                                cpus_per_worker=cpus, **analyser_args)
    else:
        rows_iter = analyse_local(jobs, **analyser_args)
    rows = []
    for row in tqdm(rows_iter, total=len(jobs), unit='scan', disable=args.no_progress):
        rows.append(row)
        if row['status'] == 'failed':
            tqdm.write(f'failed: {row["input"]}: {row["reason"]}')
    order = {job.name: i for i, job in enumerate(jobs)}
    rows.sort(key=lambda r: order[r['name']])
    meta = dict(input=osp.abspath(args.input), config=osp.abspath(args.config),
                checkpoint=osp.abspath(args.checkpoint), engine=args.engine,
                workers=args.workers, settings=settings, files_not_read=len(skipped),
                seconds=time.perf_counter() - start,
                validation_notices=sorted({n for r in rows for n in r.pop('notices', [])}))
    paths = write_summary(rows, args.out_dir, meta)
    counts = status_counts(rows)
    print(f'{len(rows)} scan(s): {counts["done"]} analysed, {counts["skipped"]} reused, '
          f'{counts["failed"]} failed; {meta["seconds"]:.1f} s')
    print(f'summary: {osp.abspath(paths["html"])}')
    print('Research use only; not a medical device.')
    return 1 if counts['failed'] else 0


if __name__ == '__main__':
    sys.exit(main())
