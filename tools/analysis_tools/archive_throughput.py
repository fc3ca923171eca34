"""Scans per hour of the archive runner, with each engine, on phantom scans.

    python tools/analysis_tools/archive_throughput.py CONFIG CHECKPOINT \\
        [--scans 6] [--slices 40] [--work-dir work_dirs/archive_throughput] \\
        [--out docs/results/archive_throughput.json]

Writes ``--scans`` whole-scan phantoms (COVID-19, CP and Normal in turn, 512x512 DICOM
series; kept in the work dir and reused), then analyses them all as
``tools/analyze_archive.py`` does (``--force``: nothing reused) with ``--engine local``
(one process, torch on every core) and ``--engine ray`` (one actor per core, one torch
thread each; a local Ray started for the run, its start-up included). Writes the wall time
and scans per hour of each, with the CPU, to ``--out``. Run it alone: a second job on the
same cores slows both.
"""
import argparse
import json
import os
import os.path as osp
import time


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--scans', type=int, default=6)
    parser.add_argument('--slices', type=int, default=40)
    parser.add_argument('--work-dir', default='work_dirs/archive_throughput')
    parser.add_argument('--engines', nargs='+', default=['local', 'ray'],
                        choices=['local', 'ray'])
    parser.add_argument('--out', default=None, help='JSON file of the figures')
    return parser.parse_args()


def write_archive(root: str, scans: int, slices: int) -> None:
    """The phantom scans, unless the same ones are there."""
    from mmdet_covid.datasets.phantom import write_scan

    classes = ('COVID-19', 'CP', 'Normal')
    for i in range(scans):
        name = f'scan_{i:03d}'
        truth = osp.join(root, name, 'truth.json')
        if osp.exists(truth):
            with open(truth) as f:
                if json.load(f).get('shape_slices_rows_columns') == [slices, 512, 512]:
                    continue
        write_scan(root, name, classes[i % 3], slices, 512, seed=0, scan_id=i)


def main() -> None:
    args = parse_args()
    import mmdet_covid  # noqa: F401
    from mmdet_covid.apis.archive_analysis import analyse_local, analyse_ray
    from mmdet_covid.io.archive_inputs import find_scans
    from mmdet_covid.utils.machine import cpu_model, native_bf16

    root = osp.join(args.work_dir, 'archive')
    write_archive(root, args.scans, args.slices)
    jobs, _ = find_scans(root)
    jobs = [j for j in jobs if j.series_uid]  # the DICOM series (the NIfTI copies left out)
    cores = os.cpu_count() or 1
    runs = {}
    for engine in args.engines:
        common = dict(config=args.config, checkpoint=args.checkpoint, force=True,
                      out_dir=osp.join(args.work_dir, f'out_{engine}'))
        start = time.perf_counter()
        if engine == 'local':
            rows = list(analyse_local(jobs, **common))
            how = f'one process, {cores} torch threads'
        else:
            rows = list(analyse_ray(jobs, workers=cores, cpus_per_worker=1, **common))
            how = f'{cores} Ray actors, 1 torch thread each (local Ray, start-up included)'
        wall = time.perf_counter() - start
        failed = [r['name'] for r in rows if r['status'] != 'done']
        if failed:
            raise RuntimeError(f'{engine}: scans not analysed: {failed}')
        runs[engine] = dict(how=how, scans=len(rows), wall_seconds=round(wall, 1),
                            scans_per_hour=round(len(rows) / wall * 3600, 1),
                            seconds_per_scan=round(wall / len(rows), 1))
        print(f'{engine}: {len(rows)} scans in {wall:.1f} s = '
              f'{runs[engine]["scans_per_hour"]:.0f} scans per hour ({how})')
    result = dict(
        about=f'tools/analyze_archive.py on {len(jobs)} phantom scans of {args.slices} '
              f'slices of 512x512 (DICOM), every scan analysed (--force)',
        command='python tools/analysis_tools/archive_throughput.py ' + ' '.join(
            [args.config, args.checkpoint, '--scans', str(args.scans), '--slices',
             str(args.slices)]),
        cpu=cpu_model(), cores=cores, native_bf16=native_bf16(), runs=runs)
    if args.out:
        from mmdet_covid.io.atomic_write import atomic_write_json
        atomic_write_json(result, args.out, indent=2)
        print(f'written: {args.out}')


if __name__ == '__main__':
    main()
