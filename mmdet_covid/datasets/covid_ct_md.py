"""COVID-CT-MD's slice labels: which slices of each patient a radiologist marked infected.

COVID-CT-MD (Afshar et al., Scientific Data 8:121, 2021) gives one DICOM series per
patient folder and label arrays ordered by InstanceNumber; ``slice_labels.csv`` holds them
per file (class, subject, file, SliceLocation, InstanceNumber, infected).
"""
import csv
import os.path as osp
from collections import defaultdict
from typing import Dict


def read_slice_labels(folder: str) -> Dict[str, dict]:
    """``{subject: {'class': name, 'infected': {file: 0 or 1}}}`` from
    ``folder/slice_labels.csv``; a malformed row is an error naming its line."""
    path = osp.join(folder, 'slice_labels.csv')
    subjects: Dict[str, dict] = defaultdict(lambda: dict(infected={}))
    with open(path, newline='', encoding='utf-8') as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            try:
                infected = int(row['infected'])
                if infected not in (0, 1):
                    raise ValueError(f'infected {infected}')
                subject = subjects[row['subject']]
                subject['class'] = row['class']
                subject['infected'][row['file']] = infected
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f'{path}:{line}: {exc}; expected the columns class, '
                                 'subject, file, infected (0 or 1)') from None
    return dict(subjects)
