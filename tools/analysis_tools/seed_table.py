"""Final metrics of training runs, mean and standard deviation over seeds per variant.

    python tools/analysis_tools/seed_table.py \\
        --run 'SSM R18:work_dirs/semiseg/ssm_s0,work_dirs/semiseg/ssm_s1' \\
        --run 'Mask R-CNN R50:work_dirs/semiseg/r50_s0' \\
        [--keys dice/meanDic dice/maxDic seg/segm_mAP seg/segm_mAP_50] \\
        [--out docs/results/covid_semiseg.json]

For each work dir: its last evaluation, the end of training and not the best epoch, so
that nothing is chosen on the test set (the latest ``tools/test.py`` run in the work dir,
its ``<timestamp>/<timestamp>.json``, where there is one, else the training's last
validation), the training wall time (from the first to the last line of the training
logs, validations included), the seed and the config. Per
variant: the mean and the sample standard deviation of each key over its runs. Prints a
Markdown table; ``--out`` writes everything as JSON, with the CPU it ran on.
"""
import argparse
import glob
import json
import os.path as osp
import re
import statistics
from datetime import datetime
from typing import Dict, List, Optional, Sequence

from mmdet_covid.io.scalars_log import read_scalars

DEFAULT_KEYS = ('dice/meanDic', 'dice/maxDic', 'dice/meanSen', 'dice/meanSpe',
                'seg/segm_mAP', 'seg/segm_mAP_50')
STAMP = re.compile(r'^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2})')


def wall_seconds(work_dir: str) -> Optional[float]:
    """Seconds from the first to the last timestamped line of the run's training logs
    (the logs with training iterations; a resumed run's are added up)."""
    total = None
    for path in sorted(glob.glob(osp.join(work_dir, '*', '*.log'))):
        stamps, training = [], False
        with open(path, encoding='utf-8', errors='replace') as f:
            for line in f:
                match = STAMP.match(line)
                if match:
                    stamps.append(datetime.strptime(match.group(1), '%Y/%m/%d %H:%M:%S'))
                training = training or 'Epoch(train)' in line or 'Iter(train)' in line
        if training and stamps:
            total = (total or 0.0) + (max(stamps) - min(stamps)).total_seconds()
    return total


def test_metrics(work_dir: str) -> Optional[dict]:
    """The metrics of the latest ``tools/test.py`` run in ``work_dir``, or None."""
    found = sorted(p for p in glob.glob(osp.join(work_dir, '*', '*.json'))
                   if osp.basename(osp.dirname(p)) == osp.splitext(osp.basename(p))[0])
    if not found:
        return None
    with open(found[-1], encoding='utf-8') as f:
        return json.load(f)


def run_record(work_dir: str, keys: Sequence[str]) -> dict:
    """The last evaluation of ``work_dir`` with its seed, config and wall time."""
    train, evals = read_scalars(work_dir)
    if not evals:
        raise ValueError(f'{work_dir}: no evaluation in its logs; expected a finished run')
    tested = test_metrics(work_dir)
    last = tested if tested is not None else evals[-1]
    configs = sorted(glob.glob(osp.join(work_dir, '*.py')))
    seed = None
    if configs:
        with open(configs[0], encoding='utf-8') as f:
            found = re.search(r"randomness\s*=\s*dict\(seed=(\d+)", f.read())
        seed = int(found.group(1)) if found else None
    return dict(work_dir=work_dir, config=osp.basename(configs[0]) if configs else None,
                seed=seed, iterations=train[-1].get('step') if train else None,
                evaluated_by='tools/test.py' if tested is not None else 'last validation',
                wall_s=wall_seconds(work_dir),
                metrics={k: last.get(k) for k in keys})


def summarise(runs: List[dict], keys: Sequence[str]) -> Dict[str, dict]:
    """``{key: {'mean', 'sd', 'n'}}`` over the runs that have the key."""
    out = {}
    for key in list(keys) + ['wall_s']:
        values = [r['metrics'].get(key) if key != 'wall_s' else r['wall_s'] for r in runs]
        values = [v for v in values if isinstance(v, (int, float))]
        if values:
            out[key] = dict(mean=statistics.fmean(values), n=len(values),
                            sd=statistics.stdev(values) if len(values) > 1 else None)
    return out


def markdown(variants: Dict[str, dict], keys: Sequence[str]) -> str:
    head = ['variant', 'seeds'] + list(keys) + ['training (min)']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + ' --- |' * len(head)]
    for name, variant in variants.items():
        stats = variant['summary']
        cells = [name, ', '.join(str(r['seed']) for r in variant['runs'])]
        for key in list(keys) + ['wall_s']:
            s = stats.get(key)
            scale = 1 / 60 if key == 'wall_s' else 1
            if s is None:
                cells.append('-')
            elif s['sd'] is None:
                cells.append(f'{s["mean"] * scale:.3f}' if scale == 1 else
                             f'{s["mean"] * scale:.0f}')
            else:
                cells.append(f'{s["mean"] * scale:.3f} ± {s["sd"] * scale:.3f}' if scale == 1
                             else f'{s["mean"] * scale:.0f} ± {s["sd"] * scale:.0f}')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--run', action='append', required=True, metavar='NAME:DIR[,DIR]',
                        help='a variant and its work dirs (one per seed)')
    parser.add_argument('--keys', nargs='+', default=list(DEFAULT_KEYS))
    parser.add_argument('--out', help='JSON of every run and the summaries')
    args = parser.parse_args(argv)
    variants = {}
    for spec in args.run:
        name, sep, dirs = spec.rpartition(':')
        if not sep or not name or not dirs:
            parser.error(f'--run {spec!r}: expected NAME:DIR[,DIR...]')
        runs = [run_record(d, args.keys) for d in dirs.split(',') if d]
        variants[name] = dict(runs=runs, summary=summarise(runs, args.keys))
    print(markdown(variants, args.keys))
    result = dict(keys=args.keys, variants=variants)
    if args.out:
        from mmdet_covid.io.atomic_write import atomic_write_json
        from mmdet_covid.utils.machine import cpu_model, native_bf16
        from mmdet_covid.utils.strict_json import strict_json
        result.update(cpu=cpu_model(), native_bf16=native_bf16())
        atomic_write_json(strict_json(result), args.out, indent=1)
    return result


if __name__ == '__main__':
    main()
