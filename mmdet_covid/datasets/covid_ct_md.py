"""COVID-CT-MD's slice labels: which slices of each patient a radiologist marked infected.

COVID-CT-MD (Afshar et al., Scientific Data 8:121, 2021) gives one DICOM series per
patient folder, ``Index.csv`` (the patients whose slices are labelled, in the order of the
label arrays' rows) and ``Slice-level-labels-updated-1.npy`` (patients x 200 slices,
columns in InstanceNumber order, 1 = infection visible).
``tools/dataset_converters/covid_ct_md.py`` turns them into a classification set and
``tools/analysis_tools/real_scans.py`` measures scans against them.
"""
import csv
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..io.dicom_series import list_dicom_series

# COVID-CT-MD's diagnoses -> the classes of CTSliceClsDataset (community-acquired
# pneumonia is the paper's common pneumonia, CP)
DIAGNOSIS_CLASS = {'COVID-19': 'COVID-19', 'CAP': 'CP', 'Normal': 'Normal'}
# folder ids of the public set: P001 (COVID-19), cap001 (CAP), normal001 (Normal)
ID_PREFIXES = (('normal', 'Normal'), ('cap', 'CAP'), ('p', 'COVID-19'))


def read_index(path: str) -> Dict[str, Tuple[int, str]]:
    """``{patient id: (row of the label arrays, diagnosis)}`` from COVID-CT-MD's
    ``Index.csv`` (columns ``Label Index``, ``Diagnosis``, ``Folder/ID``); a malformed
    row is an error naming its line.

    The row is the patient's position in the file, not its ``Label Index``: the public
    file lists 79 patients under Label Index 0-79 without 43, beside label arrays of 79
    rows (Label Index 79 has no row), and cap001's CT shows consolidation on the slices
    that the row at its position marks infected and not on those of row 55, its Label
    Index (docs/real_data.md).
    """
    index: Dict[str, Tuple[int, str]] = {}
    with open(path, newline='', encoding='utf-8-sig') as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            try:
                int(row['Label Index'])
                diagnosis, patient = row['Diagnosis'].strip(), row['Folder/ID'].strip()
                if diagnosis not in DIAGNOSIS_CLASS:
                    raise ValueError(f'Diagnosis {diagnosis!r}')
                if not patient or patient in index:
                    raise ValueError(f'Folder/ID {patient!r} empty or listed twice')
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise ValueError(f'{path}:{line}: {exc}; expected the columns Label Index '
                                 '(an integer), Diagnosis (COVID-19, CAP or Normal) and '
                                 'Folder/ID') from None
            index[patient] = (len(index), diagnosis)
    return index


def diagnosis_of(patient: str, parents: Sequence[str] = (),
                 index: Optional[Dict[str, Tuple[int, str]]] = None) -> Optional[str]:
    """A patient's diagnosis: from ``Index.csv``, else from a parent folder named after
    it (``COVID-19``, ``CAP``, ``Normal``, as on figshare), else from the id's prefix
    (``P``, ``cap``, ``normal``); None when none of them says."""
    if index and patient in index:
        return index[patient][1]
    for parent in parents:
        for diagnosis in DIAGNOSIS_CLASS:
            if parent.lower().startswith(diagnosis.lower()):
                return diagnosis
    for prefix, diagnosis in ID_PREFIXES:
        if patient.lower().startswith(prefix) and patient[len(prefix):].isdigit():
            return diagnosis
    return None


def ordered_by_instance(headers: Sequence, files: Sequence[str], where: str) -> List[str]:
    """The files in InstanceNumber order (the order of the label arrays' columns),
    checked against SliceLocation: it must run one way (head to feet or back), or the
    labels would land on the wrong slices; an error naming ``where`` otherwise."""
    rows = []
    for ds, path in zip(headers, files):
        number, location = ds.get('InstanceNumber'), ds.get('SliceLocation')
        if number is None or location is None:
            raise ValueError(f'{path}: no {"InstanceNumber" if number is None else "SliceLocation"}'
                             '; expected both (the labels follow the slice order)')
        rows.append((int(number), float(location), path))
    rows.sort()
    numbers = [r[0] for r in rows]
    if len(set(numbers)) != len(numbers):
        raise ValueError(f'{where}: InstanceNumber repeats; expected one slice per number')
    steps = np.diff([r[1] for r in rows])
    if len(steps) and not (np.all(steps < 0) or np.all(steps > 0)):
        raise ValueError(f'{where}: SliceLocation does not run one way in InstanceNumber '
                         'order; expected the slices numbered from one end of the scan')
    return [r[2] for r in rows]


LABEL_FILES = ('Slice-level-labels-updated-1.npy', 'Slice-level-labels.npy')


def find_patients(root: str) -> Dict[str, str]:
    """``{patient id: folder}``: every folder under ``root`` holding ``.dcm`` files."""
    found: Dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        if any(f.lower().endswith('.dcm') for f in files):
            patient = osp.basename(folder)
            if patient in found:
                raise ValueError(f'{folder} and {found[patient]}: two folders of patient '
                                 f'{patient}; expected one series folder per patient')
            found[patient] = folder
    if not found:
        raise ValueError(f'{root}: no folder with .dcm files; expected one folder per '
                         'patient (COVID-19/P001/*.dcm or P001/*.dcm)')
    return found


def load_label_array(path: str, index: Dict[str, Tuple[int, str]]) -> np.ndarray:
    """The slice-level label array, checked to hold one row per patient of the index."""
    try:
        labels = np.load(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f'{path}: {exc}; expected the slice-level label array '
                         '(.npy)') from None
    if labels.ndim != 2 or labels.shape[0] != len(index):
        raise ValueError(f'{path}: shape {labels.shape}; expected (patients, slices), one '
                         f'row for each of the {len(index)} patients of Index.csv, in its '
                         'order')
    return labels


def patient_slices(folder: str, patient: str, diagnosis: str,
                   index: Dict[str, Tuple[int, str]], labels: np.ndarray,
                   skipped: Optional[Dict[str, str]] = None) -> Tuple[List[str], np.ndarray]:
    """One patient's DICOM files in InstanceNumber order and, for each, whether a
    radiologist marked it infected (all 0 for a Normal patient).

    Args:
        folder: the patient's series folder.
        patient, diagnosis: its id and diagnosis (:func:`diagnosis_of`).
        index, labels: :func:`read_index` and :func:`load_label_array`.
        skipped: files not read as the series are added as ``{path: reason}``.
    """
    series = list_dicom_series(folder, skipped)
    if not series:
        raise ValueError(f'{folder}: no readable DICOM series; expected the CT of '
                         f'patient {patient}')
    files = ordered_by_instance(series[0]['headers'], series[0]['files'], folder)
    if diagnosis == 'Normal':
        return files, np.zeros(len(files), bool)
    if patient not in index:
        raise KeyError(f'{folder}: patient {patient} ({diagnosis}) has no slice labels; '
                       'expected it in Index.csv')
    row = labels[index[patient][0]]
    if len(files) > len(row) or np.any(row[len(files):]):
        raise ValueError(f'{folder}: {len(files)} slices, labels up to column '
                         f'{int(np.flatnonzero(row).max(initial=-1)) + 1} of {len(row)}; '
                         'expected the labels to fit the series')
    return files, row[:len(files)].astype(bool)


def read_slice_labels(root: str) -> Dict[str, dict]:
    """``{patient: {'class': diagnosis, 'infected': {file name: 0 or 1}}}`` of every
    patient under ``root`` whose slices are labelled (COVID-19 and CAP patients of
    ``Index.csv``) or known normal, from the authors' ``Index.csv`` and slice-level
    label array in ``root``."""
    index = read_index(osp.join(root, 'Index.csv'))
    path = next((osp.join(root, n) for n in LABEL_FILES if osp.isfile(osp.join(root, n))),
                osp.join(root, LABEL_FILES[0]))
    labels = load_label_array(path, index)
    out: Dict[str, dict] = {}
    for patient, folder in find_patients(root).items():
        parents = osp.relpath(folder, root).split(os.sep)[:-1][::-1]
        diagnosis = diagnosis_of(patient, parents, index)
        if diagnosis is None or (diagnosis != 'Normal' and patient not in index):
            continue
        files, infected = patient_slices(folder, patient, diagnosis, index, labels)
        out[patient] = {'class': diagnosis,
                        'infected': {osp.basename(f): int(v) for f, v in zip(files, infected)}}
    return out
