"""Learning curve of a run: the evaluation metrics against training iterations.

    python tools/analysis_tools/learning_curve.py WORK_DIR|ROWS.json [...] \
        [--keys cls/f1_weighted seg/segm_mAP_50] [--out curve.png] [--table curve.md]

Reads every ``<WORK_DIR>/<timestamp>/vis_data/scalars.json`` that mmengine's
``LocalVisBackend`` wrote (a resumed run continues in a new timestamp folder;
all are read, the latest value of a step wins). Evaluation rows are placed at
the iteration they followed: epoch-based runs log them by epoch, converted
with the iterations per epoch read off the training rows (or
``--iters-per-epoch``). Prints a Markdown
table (iterations, epoch, one column per key) and, with ``--out``, draws one
line per key and run. Several work dirs (e.g. seeds or baselines) are drawn
together; a key a run does not have is left out of its lines. A ``.json``
argument is a file this tool wrote with ``--json`` (``{run: [rows]}``), possibly
merged with rows measured elsewhere, e.g. by ``make demo``.
"""
import argparse
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from mmdet_covid.io.scalars_log import read_scalars

DEFAULT_KEYS = ('cls/f1_weighted', 'seg/segm_mAP_50', 'seg_score075/segm_mAP_50')


def iters_per_epoch(train: List[dict]) -> Optional[int]:
    """Iterations per epoch of an epoch-based run, from its training rows.

    The logger writes every ``interval`` iterations inside an epoch, so the
    first row of epoch 2 is ``E + interval`` when the first of epoch 1 is
    ``interval``. With a single epoch, its last logged iteration.
    """
    first: Dict[int, int] = {}
    last: Dict[int, int] = {}
    for row in train:
        if 'epoch' in row:
            first[row['epoch']] = min(first.get(row['epoch'], row['iter']), row['iter'])
            last[row['epoch']] = max(last.get(row['epoch'], 0), row['iter'])
    if not first:
        return None
    if 1 in first and 2 in first:
        return first[2] - first[1]
    return max(last.values())


def curve(work_dir: str, keys: Sequence[str],
          epoch_iters: Optional[int] = None) -> List[Dict[str, Optional[float]]]:
    """One row per evaluation: ``iter``, ``epoch`` and the value of each key."""
    train, evals = read_scalars(work_dir)
    per_epoch = epoch_iters or iters_per_epoch(train)
    rows = []
    for row in evals:
        step = int(row['step'])
        if per_epoch:  # an epoch-based run logs its evaluations by epoch
            iters, epoch = step * per_epoch, step
        else:
            iters, epoch = step, None
        rows.append(dict(iter=iters, epoch=epoch, **{k: row.get(k) for k in keys}))
    return rows


def markdown(name: str, rows: List[dict], keys: Sequence[str]) -> str:
    lines = [f'**{name}**', '', '| iterations | epoch | ' + ' | '.join(keys) + ' |',
             '|---:|---:|' + '---:|' * len(keys)]
    for row in rows:
        values = ['-' if row.get(k) is None else f'{row[k]:.3f}' for k in keys]
        lines.append(f'| {"-" if row.get("iter") is None else row["iter"]} | '
                     f'{"-" if row.get("epoch") is None else row["epoch"]} | '
                     + ' | '.join(values) + ' |')
    return '\n'.join(lines)


def plot(runs: Dict[str, List[dict]], keys: Sequence[str], out: str,
         hlines: Sequence[Tuple[str, float]] = (),
         xlabel: str = 'training iterations (segmentation + classification step)') -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for (name, rows), colour in zip(runs.items(), plt.rcParams['axes.prop_cycle']):
        for key, style in zip(keys, ('-o', '--s', ':^', '-.d')):
            points = [(r['iter'], r[key]) for r in rows
                      if r[key] is not None and r['iter'] is not None]
            if points:
                xs, ys = zip(*points)
                label = key if len(runs) == 1 else f'{name}: {key}'
                ax.plot(xs, ys, style, color=colour['color'], label=label, markersize=4)
    # named in the legend (labels written beside close lines would overlap)
    for i, (label, value) in enumerate(hlines):
        ax.axhline(value, color=('grey', 'black')[i % 2], linewidth=0.8,
                   linestyle=(':', '-.')[i % 2], label=f'{label} ({value:g})')
    ax.set_xlabel(xlabel)
    ax.set_ylabel('metric on the test split')
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc='lower right')
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dirs', nargs='+')
    parser.add_argument('--keys', nargs='+', default=list(DEFAULT_KEYS))
    parser.add_argument('--names', nargs='+', help='one label per work dir')
    parser.add_argument('--hline', nargs=2, action='append', default=[],
                        metavar=('LABEL', 'VALUE'), help='a reference level, e.g. chance')
    parser.add_argument('--iters-per-epoch', type=int,
                        help='of epoch-based runs (default: read off the log)')
    parser.add_argument('--out', help='PNG of the curve')
    parser.add_argument('--xlabel', default='training iterations (segmentation + '
                                            'classification step)')
    parser.add_argument('--table', help='also write the Markdown table here')
    parser.add_argument('--json', help='also write the rows of every run here')
    args = parser.parse_args(argv)
    names = args.names or [osp.basename(osp.normpath(d)) for d in args.work_dirs]
    if len(names) != len(args.work_dirs):
        parser.error(f'--names: {len(names)} names for {len(args.work_dirs)} work dirs')
    runs = {}
    for name, source in zip(names, args.work_dirs):
        if source.endswith('.json'):
            with open(source) as f:
                for run, rows in json.load(f).items():
                    if isinstance(rows, list):
                        runs[run] = [dict({k: None for k in args.keys}, **r) for r in rows]
        else:
            runs[name] = curve(source, args.keys, args.iters_per_epoch)
    text = '\n\n'.join(markdown(name, rows, args.keys) for name, rows in runs.items())
    print(text)
    if args.table:
        with open(args.table, 'w') as f:
            f.write(text + '\n')
    if args.json:
        from mmdet_covid.io.atomic_write import atomic_write_json
        from mmdet_covid.utils.strict_json import strict_json
        atomic_write_json(strict_json(runs), args.json, indent=1)
    if args.out:
        plot(runs, args.keys, args.out, [(label, float(v)) for label, v in args.hline],
             args.xlabel)
        print(f'curve: {args.out}')


if __name__ == '__main__':
    main()
