"""read_scalars: the rows that mmengine's ``LocalVisBackend`` logged for a work dir."""
import glob
import json
import os.path as osp
from typing import List, Tuple


def read_scalars(work_dir: str) -> Tuple[List[dict], List[dict]]:
    """The training rows and evaluation rows of every log of ``work_dir``.

    Reads every ``<work_dir>/<timestamp>/vis_data/scalars.json`` (a resumed run continues
    in a new timestamp folder; all are read, in name order, the latest row of a step
    wins).

    Args:
        work_dir: a run's work dir.

    Returns:
        ``(train, evals)``: the training rows (those with ``iter``), by iteration, and
        the evaluation rows (a ``step`` and a ``prefix/metric`` key), by step.

    Raises:
        FileNotFoundError: no log in ``work_dir``.
        ValueError: a line that is not JSON, naming the file and the line.
    """
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(f'{work_dir}: no */vis_data/scalars.json (is it the '
                                f'work_dir of a run with the LocalVisBackend?)')
    train, evals = {}, {}
    for path in files:
        with open(path) as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f'{path}, line {line_no}: not JSON ({err})') from None
                if 'iter' in row:  # a training row
                    train[row['iter']] = row
                elif 'step' in row and any('/' in key for key in row):
                    evals[row['step']] = row
    return [train[k] for k in sorted(train)], [evals[k] for k in sorted(evals)]
