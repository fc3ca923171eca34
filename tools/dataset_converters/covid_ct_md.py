"""Convert COVID-CT-MD (one DICOM series per patient, slice-level labels) into the
classification set that ``CTSliceClsDataset`` reads, split by patient.

COVID-CT-MD (Afshar et al., Scientific Data 8:121, 2021; 169 COVID-19, 60 CAP and 76
normal patients on figshare) gives, beside the series, ``Index.csv`` (the 54 COVID-19
and 25 CAP patients whose slices three radiologists labelled, with their row in the
label arrays) and ``Slice-level-labels-updated-1.npy`` (rows: those patients, in the
order of ``Index.csv``; columns: the slices in InstanceNumber order, 1 = infection
visible). The classes:

* every slice of a Normal patient is ``Normal``;
* the infected slices of a CAP patient are ``CP`` (the paper's common pneumonia) and
  those of a COVID-19 patient ``COVID-19``; their other slices are left out (a slice of
  a sick patient without visible infection is no class of the set);
* COVID-19 and CAP patients without slice labels are left out and counted.

Patients are the folders under ``--root`` that hold DICOM files (the figshare layout
``COVID-19/P001/*.dcm`` and the GitHub sample's ``P001/*.dcm`` alike); a patient's
diagnosis comes from ``Index.csv``, else from its parent folder's name, else from its
id (``P001``, ``cap001``, ``normal001``). Slices are ordered by InstanceNumber, which
must run with SliceLocation. Every patient goes whole into one split:
``--splits train:0.7,val:0.15,test:0.15`` (per diagnosis, seeded; largest remainders)
or ``--split-file`` (lines ``patient split``). ``img_path`` is the DICOM file relative
to ``--root``: point ``cls_data_root`` at the root, nothing is copied.

Example::

    python tools/dataset_converters/covid_ct_md.py --root data/covid_ct_md \\
        --out-dir data/covid_ct_md/annotations --seed 0
"""
import argparse
import os
import os.path as osp
import sys
from collections import Counter, defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmdet_covid.datasets.covid_ct_md import (DIAGNOSIS_CLASS, LABEL_FILES, diagnosis_of,
                                              find_patients, load_label_array,
                                              patient_slices, read_index)
from mmdet_covid.datasets.ct_slice_cls_dataset import COVIDX_CLASSES
from mmdet_covid.datasets.data_source import add_data_source_args, data_source_from_args
from mmdet_covid.io.atomic_write import atomic_write_json
from mmdet_covid.utils.text_files import TextFileError, read_text_lines


class CovidCtMdError(ValueError):
    """The input does not follow COVID-CT-MD's layout (the message names the file)."""


def parse_splits(text: str) -> Dict[str, float]:
    """``'train:0.7,val:0.15,test:0.15'`` -> ``{'train': 0.7, ...}`` (sums to 1)."""
    splits: Dict[str, float] = {}
    for item in text.split(','):
        name, sep, value = item.partition(':')
        try:
            fraction = float(value)
        except ValueError:
            fraction = -1.0
        if not sep or not name.strip() or not 0 <= fraction <= 1 or name.strip() in splits:
            raise CovidCtMdError(f'--splits {text!r}: expected NAME:FRACTION pairs, e.g. '
                                 "'train:0.7,val:0.15,test:0.15'")
        splits[name.strip()] = fraction
    if abs(sum(splits.values()) - 1) > 1e-6:
        raise CovidCtMdError(f'--splits {text!r}: the fractions sum to '
                             f'{sum(splits.values()):g}; expected 1')
    return splits


def read_split_file(path: str) -> Dict[str, str]:
    """``{patient: split}`` from lines ``patient split``."""
    assigned: Dict[str, str] = {}
    try:
        lines = read_text_lines(path)
    except TextFileError as exc:
        raise CovidCtMdError(str(exc)) from None
    for number, line in lines:
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        fields = line.split()
        if len(fields) != 2 or fields[0] in assigned:
            raise CovidCtMdError(f'{path}:{number}: {line.strip()!r}; expected "patient split", '
                                 'each patient once')
        assigned[fields[0]] = fields[1]
    return assigned


def split_patients(patients: Dict[str, str], splits: Dict[str, float],
                   seed: int) -> Dict[str, str]:
    """``{patient: split}``: per diagnosis, the patients shuffled (seeded) and cut by
    the fractions, the remainders going to the largest fractional parts."""
    rng = np.random.default_rng(seed)
    assigned: Dict[str, str] = {}
    by_diagnosis: Dict[str, List[str]] = defaultdict(list)
    for patient, diagnosis in sorted(patients.items()):
        by_diagnosis[diagnosis].append(patient)
    names = list(splits)
    for diagnosis in sorted(by_diagnosis):
        group = by_diagnosis[diagnosis]
        order = [group[i] for i in rng.permutation(len(group))]
        exact = np.array([splits[n] * len(group) for n in names])
        counts = np.floor(exact).astype(int)
        for i in np.argsort(-(exact - counts), kind='stable')[:len(group) - counts.sum()]:
            counts[i] += 1
        start = 0
        for name, count in zip(names, counts):
            for patient in order[start:start + count]:
                assigned[patient] = name
            start += count
    return assigned


def convert(root: str, index_file: str, labels_file: str,
            assigned: Optional[Dict[str, str]] = None,
            splits: Optional[Dict[str, float]] = None, seed: int = 0
            ) -> Tuple[Dict[str, List[dict]], dict]:
    """The data list of each split and a summary (module docstring)."""
    index = read_index(index_file)
    labels = load_label_array(labels_file, index)
    folders = find_patients(root)
    diagnoses: Dict[str, str] = {}
    for patient, folder in folders.items():
        parents = osp.relpath(folder, root).split(os.sep)[:-1][::-1]
        diagnosis = diagnosis_of(patient, parents, index)
        if diagnosis is None:
            raise CovidCtMdError(f'{folder}: no diagnosis for patient {patient!r}; expected it '
                                 f'in {index_file}, a parent folder named COVID-19, CAP or '
                                 'Normal, or an id P###, cap### or normal###')
        diagnoses[patient] = diagnosis
    counts: Counter = Counter()
    usable = {}
    for patient, diagnosis in diagnoses.items():
        if diagnosis != 'Normal' and patient not in index:
            counts[f'unlabelled_{diagnosis}'] += 1
            continue
        usable[patient] = diagnosis
    if assigned is None:
        assigned = split_patients(usable, splits or dict(train=1.0), seed)
    else:
        unknown = sorted(set(assigned) - set(folders))
        if unknown:
            raise CovidCtMdError(f'the split file names {len(unknown)} patient(s) not found '
                                 f'under {root}, e.g. {unknown[0]!r}')
    data: Dict[str, List[dict]] = defaultdict(list)
    patients_per_split: Dict[str, Counter] = defaultdict(Counter)
    for patient in sorted(usable):
        if patient not in assigned:
            counts['not_in_split_file'] += 1
            continue
        diagnosis, split = usable[patient], assigned[patient]
        skipped: Dict[str, str] = {}
        files, infected = patient_slices(folders[patient], patient, diagnosis, index, labels,
                                         skipped)
        counts['files_not_read'] += len(skipped)
        if diagnosis == 'Normal':
            infected = np.ones(len(files), bool)  # every slice is a Normal slice
        cls = DIAGNOSIS_CLASS[diagnosis]
        for k, path in enumerate(files):
            if not infected[k]:
                counts['slices_without_infection_left_out'] += 1
                continue
            data[split].append(dict(img_path=osp.relpath(path, root),
                                    gt_label=COVIDX_CLASSES.index(cls), patient_id=patient,
                                    slice_index=k))
        patients_per_split[split][cls] += 1
    summary = dict(
        patients={split: dict(c) for split, c in sorted(patients_per_split.items())},
        slices={split: dict(Counter(COVIDX_CLASSES[d['gt_label']] for d in items))
                for split, items in sorted(data.items())},
        left_out={k: v for k, v in sorted(counts.items()) if v})
    return dict(data), summary


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--root', required=True, help='folder holding the patient folders')
    parser.add_argument('--out-dir', required=True, help='where <split>.json go')
    parser.add_argument('--index', help='Index.csv (default: ROOT/Index.csv)')
    parser.add_argument('--slice-labels', help='slice-level label array (default: ROOT/'
                        f'{LABEL_FILES[0]}, else ROOT/{LABEL_FILES[1]})')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--splits', default='train:0.7,val:0.15,test:0.15',
                       help='NAME:FRACTION of the patients of each diagnosis')
    group.add_argument('--split-file', help='lines "patient split" (instead of --splits)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the patient split')
    add_data_source_args(parser)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    root = args.root
    index_file = args.index or osp.join(root, 'Index.csv')
    labels_file = args.slice_labels or next(
        (osp.join(root, n) for n in LABEL_FILES if osp.isfile(osp.join(root, n))),
        osp.join(root, LABEL_FILES[0]))
    try:
        source = data_source_from_args(args, 'COVID-CT-MD (Afshar et al. 2021), real CT')
        for path in (index_file, labels_file):
            if not osp.isfile(path):
                raise CovidCtMdError(f'{path}: not a file; expected COVID-CT-MD\'s '
                                     f'{osp.basename(path)} (or name it with --index / '
                                     '--slice-labels)')
        assigned = read_split_file(args.split_file) if args.split_file else None
        splits = None if assigned else parse_splits(args.splits)
        data, summary = convert(root, index_file, labels_file, assigned, splits, args.seed)
    except ValueError as exc:  # CovidCtMdError, a malformed Index.csv, a bad --fov-mm
        sys.exit(f'error: {exc}')
    os.makedirs(args.out_dir, exist_ok=True)
    for split, items in sorted(data.items()):
        path = osp.join(args.out_dir, f'{split}.json')
        atomic_write_json(dict(
            metainfo=dict(classes=list(COVIDX_CLASSES), dataset='COVID-CT-MD',
                          data_source=source, img_path_relative_to=osp.abspath(root)),
            data_list=items), path)
        print(f'wrote {path}: {len(items)} slices of '
              f'{sum(summary["patients"][split].values())} patients '
              f'({", ".join(f"{c} {n}" for c, n in sorted(summary["slices"][split].items()))})')
    for reason, count in summary['left_out'].items():
        print(f'  left out: {reason.replace("_", " ")} {count}')
    return summary


if __name__ == '__main__':
    main()
