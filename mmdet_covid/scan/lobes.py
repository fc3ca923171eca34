"""Lesion burden per lung lobe and the 25-point CT severity score.

The lobes come from a label volume on the scan's grid (:func:`~mmdet_covid.io.label_volume.
read_label_volume`), as the lobe segmentations users already run write it:

================================  ==========================================
``totalsegmentator``              TotalSegmentator v2, task ``total`` (one file with
                                  ``--ml``, or the five lobes alone with ``--roi_subset``):
                                  10 left upper, 11 left lower, 12 right upper, 13 right
                                  middle, 14 right lower lobe
``lungmask``                      lungmask ``--modelname LTRCLobes`` (or ``LTRCLobes_R231``):
                                  1 left upper, 2 left lower, 3 right upper, 4 right
                                  middle, 5 right lower lobe
================================  ==========================================

The convention is recognised from the values present (:func:`detect_convention`); any
other (TotalSegmentator v1 numbered the lobes 13-17, for one) is given as
``--lobe-labels 13:LUL,14:LLL,15:RUL,16:RML,17:RLL`` (:func:`parse_lobe_labels`).

The severity score is that of Pan et al., "Time course of lung changes on chest CT during
recovery from 2019 novel coronavirus (COVID-19) pneumonia", Radiology 295:715-721 (2020):
each of the five lobes scores 0 (no involvement), 1 (< 5 %), 2 (5-25 %), 3 (26-49 %),
4 (50-75 %) or 5 (> 75 % of the lobe involved); the scan scores their sum, 0-25. Here
the involvement is the share of the lobe's voxels that are lesion voxels of the analysis;
the bands' gaps (25-26 %, 49-50 %) go to the lower score up to the next band's start
(25.5 % scores 3, 49.9 % scores 3, 75.0 % scores 4).
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from ..io.label_volume import read_label_volume
from .burden import CONSOLIDATION_LABEL, GGO_LABEL

LOBES = ('RUL', 'RML', 'RLL', 'LUL', 'LLL')
LOBE_NAMES = {'RUL': 'right upper lobe', 'RML': 'right middle lobe',
              'RLL': 'right lower lobe', 'LUL': 'left upper lobe', 'LLL': 'left lower lobe'}
CONVENTIONS = {
    'totalsegmentator': {10: 'LUL', 11: 'LLL', 12: 'RUL', 13: 'RML', 14: 'RLL'},
    'lungmask': {1: 'LUL', 2: 'LLL', 3: 'RUL', 4: 'RML', 5: 'RLL'},
}
MAX_SCORE = 5 * len(LOBES)
NO_LOBES = ('no lobe labels given (--lobes): no lobe burden and no CT severity score '
            'computed; the zones are thirds of each lung along the body axis')


class LobeLabelError(ValueError):
    """Lobe labels that cannot be read or recognised (the message says what was expected)."""


def parse_lobe_labels(text: str) -> Dict[int, str]:
    """``'1:LUL,2:LLL,...'`` as ``{value: lobe}``; every lobe of :data:`LOBES` once."""
    mapping: Dict[int, str] = {}
    for item in filter(None, (part.strip() for part in text.split(','))):
        value, _, lobe = item.partition(':')
        try:
            number = int(value)
        except ValueError:
            number = -1
        if number < 1 or lobe.strip().upper() not in LOBES:
            raise LobeLabelError(f'--lobe-labels {text!r}: item {item!r}; expected VALUE:LOBE '
                                 f'with VALUE a positive integer and LOBE one of '
                                 f'{", ".join(LOBES)}')
        if number in mapping:
            raise LobeLabelError(f'--lobe-labels {text!r}: value {number} given twice')
        mapping[number] = lobe.strip().upper()
    missing = [lobe for lobe in LOBES if lobe not in mapping.values()]
    doubled = sorted({lobe for lobe in mapping.values() if list(mapping.values()).count(lobe) > 1})
    if missing or doubled:
        raise LobeLabelError(f'--lobe-labels {text!r}: expected each of {", ".join(LOBES)} '
                             f'once' + (f'; missing {", ".join(missing)}' if missing else '')
                             + (f'; more than once {", ".join(doubled)}' if doubled else ''))
    return mapping


def detect_convention(values) -> Tuple[str, Dict[int, str]]:
    """The convention of a lobe label volume from the values it holds (0 is background):
    ``lungmask`` when they lie in 1-5, ``totalsegmentator`` when lobe values 10-14 are
    among them (the other organs of the ``total`` task may be there too)."""
    present = sorted(int(v) for v in values if v)
    if present and max(present) <= 5:
        return 'lungmask', CONVENTIONS['lungmask']
    if any(10 <= v <= 14 for v in present):
        return 'totalsegmentator', CONVENTIONS['totalsegmentator']
    raise LobeLabelError(
        f'lobe labels with values {present[:12]}{" ..." if len(present) > 12 else ""}: not '
        'the convention of lungmask LTRCLobes (1-5) or TotalSegmentator v2 total (10-14); '
        'give it with --lobe-labels, e.g. 13:LUL,14:LLL,15:RUL,16:RML,17:RLL')


def lobe_score(percent: float) -> int:
    """Pan et al.'s score of one lobe (module docstring) for ``percent`` involvement."""
    if percent <= 0:
        return 0
    if percent < 5:
        return 1
    if percent <= 25:
        return 2
    if percent < 50:
        return 3
    return 4 if percent <= 75 else 5


def lobe_burden(labels: np.ndarray, lobes: np.ndarray, mapping: Dict[int, str],
                voxel_ml: Union[None, float, np.ndarray] = None) -> dict:
    """Lesion burden per lobe and the severity score.

    Args:
        labels: (D, H, W) lesion label volume (0 none, ground glass, consolidation).
        lobes: (D, H, W) lobe label volume on the same grid.
        mapping: ``{value: lobe}`` (:data:`CONVENTIONS` or :func:`parse_lobe_labels`).
        voxel_ml: volume of a voxel in mL, one number or (D,) one per slice; None: voxels
            only.

    Returns:
        ``lobes``: ``{lobe: row}`` in :data:`LOBES` order, each with ``lobe_voxels``,
        ``lesion_voxels``, ``ggo_voxels``, ``consolidation_voxels`` (and ``*_ml``),
        ``lesion_percent`` (None for a lobe the label volume does not hold) and ``score``;
        ``severity_score`` (0-25, None when a lobe is missing), ``lobes_missing``,
        ``lesion_voxels_outside_lobes`` (lesion voxels in no lobe: not scored).
    """
    if labels.shape != lobes.shape:
        raise LobeLabelError(f'lesion labels {labels.shape} and lobes {lobes.shape}: expected '
                             'one grid (load_lobes(path, volume) places lobes on the scan\'s)')
    slice_ml = None if voxel_ml is None else np.broadcast_to(
        np.asarray(voxel_ml, np.float64), (labels.shape[0], ))
    kinds = dict(lobe=None, lesion=labels > 0, ggo=labels == GGO_LABEL,
                 consolidation=labels == CONSOLIDATION_LABEL)
    rows: Dict[str, dict] = {}
    in_some_lobe = np.zeros(labels.shape, bool)
    for lobe in LOBES:
        values = [v for v, name in mapping.items() if name == lobe]
        inside = np.isin(lobes, values)
        in_some_lobe |= inside
        row: Dict[str, Optional[float]] = {}
        for kind, mask in kinds.items():
            per_slice = (inside if mask is None else inside & mask).sum(axis=(1, 2))
            row[f'{kind}_voxels'] = int(per_slice.sum())
            if slice_ml is not None:
                row[f'{kind}_ml'] = float((per_slice * slice_ml).sum())
        total = row['lobe_voxels']
        row['lesion_percent'] = 100.0 * row['lesion_voxels'] / total if total else None
        row['score'] = None if row['lesion_percent'] is None else \
            lobe_score(row['lesion_percent'])
        rows[lobe] = row
    missing: List[str] = [lobe for lobe, row in rows.items() if row['score'] is None]
    return dict(lobes=rows, lobes_missing=missing,
                severity_score=None if missing else sum(r['score'] for r in rows.values()),
                max_score=MAX_SCORE,
                lesion_voxels_outside_lobes=int((kinds['lesion'] & ~in_some_lobe).sum()))


@dataclass
class LobeLabels:
    """A lobe label volume placed on a scan's grid (:func:`load_lobes`).

    Attributes:
        source: the file.
        labels: (D, H, W) uint16 on the scan's display grid.
        convention: ``totalsegmentator``, ``lungmask`` or ``given`` (``--lobe-labels``).
        mapping: ``{value: lobe}``.
    """
    source: str
    labels: np.ndarray
    convention: str
    mapping: Dict[int, str]

    def burden(self, lesion_labels: np.ndarray, voxel_ml=None) -> dict:
        """:func:`lobe_burden` of ``lesion_labels``, with where the lobes came from."""
        return dict(source=self.source, convention=self.convention,
                    values={str(v): lobe for v, lobe in sorted(self.mapping.items())},
                    **lobe_burden(lesion_labels, self.labels, self.mapping, voxel_ml))


def load_lobes(path: str, volume, spec: Optional[str] = None) -> LobeLabels:
    """Read a lobe label volume onto ``volume``'s grid
    (:func:`~mmdet_covid.io.label_volume.read_label_volume`) and recognise its
    convention, or take ``spec`` (``--lobe-labels``).

    Raises:
        CTReadError: the file cannot be read or lies on another grid.
        LobeLabelError: its values follow no known convention, or ``spec`` is malformed.
    """
    labels = read_label_volume(path, volume)
    if spec:
        mapping, convention = parse_lobe_labels(spec), 'given'
    else:
        convention, mapping = detect_convention(np.unique(labels))
    return LobeLabels(path, labels, convention, mapping)
