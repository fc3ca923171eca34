"""Lesion burden of a scan: volume and share of the lung, per lung and per zone, split
into ground-glass opacity and consolidation by the HU of each lesion voxel.

The split (:func:`lesion_labels`): a lesion voxel below ``consolidation_hu`` (default
-300 HU) is ground glass, at or above it consolidation. -300 HU is the GGO / consolidation threshold that
"Quantitative CT for detecting COVID-19 pneumonia in suspected cases" (BMC Infectious
Diseases 21:836, 2021, doi:10.1186/s12879-021-06556-z) found most effective among the
eight it compared (-400 to -250 HU).

Zones: each lung's slice extent (its first to last slice) in three equal parts along the
feet-head axis: ``lower``, ``middle``, ``upper``.
"""
from typing import Dict, Union

import numpy as np

from .lung_mask import LEFT, RIGHT, SIDE_NAMES, side_by_midline

ZONES = ('lower', 'middle', 'upper')
# values of the lesion label volume (lesions.nii.gz, the DICOM-SEG segments)
GGO_LABEL, CONSOLIDATION_LABEL = 1, 2
LABEL_NAMES = {GGO_LABEL: 'ground-glass opacity', CONSOLIDATION_LABEL: 'consolidation'}
# RGB of each lesion label in every picture of the report (yellow, red)
LABEL_COLOURS = {GGO_LABEL: (255, 217, 0), CONSOLIDATION_LABEL: (255, 26, 26)}


def lesion_labels(lesions: np.ndarray, hu: np.ndarray,
                  consolidation_hu: float = -300.0) -> np.ndarray:
    """(D, H, W) uint8 label volume of the lesion voxels: :data:`GGO_LABEL` below
    ``consolidation_hu``, :data:`CONSOLIDATION_LABEL` at or above it, 0 elsewhere."""
    if lesions.shape != hu.shape:
        raise ValueError(f'lesions {lesions.shape} and hu {hu.shape}: expected one shape')
    labels = np.zeros(lesions.shape, np.uint8)
    labels[lesions] = GGO_LABEL
    labels[lesions & (hu >= consolidation_hu)] = CONSOLIDATION_LABEL
    return labels


def zone_map(sides: np.ndarray) -> np.ndarray:
    """(D, 2) zone index (0 lower, 1 middle, 2 upper; -1 outside the lung's extent) of
    every slice for the right (column 0) and left (column 1) lung."""
    depth = sides.shape[0]
    zones = np.full((depth, 2), -1, np.int64)
    k = np.arange(depth)
    for col, side in enumerate((RIGHT, LEFT)):
        present = np.flatnonzero((sides == side).any(axis=(1, 2)))
        if present.size == 0:
            continue
        first, last = present[0], present[-1]
        frac = (k - first + 0.5) / (last - first + 1)
        inside = (k >= first) & (k <= last)
        zones[inside, col] = np.minimum((frac[inside] * 3).astype(np.int64), 2)
    return zones


def lesion_burden(labels: np.ndarray, sides: np.ndarray,
                  voxel_ml: Union[None, float, np.ndarray] = None) -> Dict[str, dict]:
    """The burden table.

    Args:
        labels: (D, H, W) lesion label volume (:func:`lesion_labels`: 0 none, ground
            glass, consolidation).
        sides: (D, H, W) uint8 lung side of each voxel (0 outside, 1 right, 2 left), with
            the lesion voxels already in the lung (:func:`assign_sides`).
        voxel_ml: volume of a voxel in mL, one number or (D,) one per slice (unevenly
            spaced slices each count for their own extent); None: the table is in voxels
            only.

    Returns:
        ``{region: row}`` for ``total``, ``right``, ``left`` and ``right_upper`` ...
        ``left_lower``; each row holds ``lung_voxels``, ``lesion_voxels``,
        ``ggo_voxels``, ``consolidation_voxels``, ``lesion_percent`` (of the region's
        lung, None for an empty region) and, with ``voxel_ml``, the same in mL.
    """
    if labels.shape != sides.shape:
        raise ValueError(f'labels {labels.shape} and sides {sides.shape}: expected one shape')
    lesions = labels > 0
    stray = int((lesions & (sides == 0)).sum())
    if stray:
        raise ValueError(f'{stray} lesion voxel(s) outside the lung mask: give them a side '
                         'with assign_sides() first, so that none is dropped')
    zones = zone_map(sides)  # (D, 2)
    masks = dict(lung=None, lesion=lesions, ggo=labels == GGO_LABEL,
                 consolidation=labels == CONSOLIDATION_LABEL)
    # voxels of each kind per slice and side: (D,) arrays, summed into regions below
    per_slice = {}
    for side in (RIGHT, LEFT):
        in_side = sides == side
        for key, mask in masks.items():
            per_slice[key, side] = (in_side if mask is None else in_side & mask).sum(
                axis=(1, 2))

    slice_ml = None if voxel_ml is None else np.broadcast_to(
        np.asarray(voxel_ml, np.float64), (labels.shape[0], ))

    def row(side_zones) -> dict:
        out = {f'{key}_voxels': int(sum(per_slice[key, side][select].sum()
                                        for side, select in side_zones)) for key in masks}
        if slice_ml is not None:  # volumes, then shares of the lung volume
            for key in masks:
                out[f'{key}_ml'] = float(sum((per_slice[key, side] * slice_ml)[select].sum()
                                             for side, select in side_zones))
        unit = 'ml' if slice_ml is not None else 'voxels'
        lung = out[f'lung_{unit}']
        for key in ('lesion', 'ggo', 'consolidation'):
            out[f'{key}_percent'] = (100.0 * out[f'{key}_{unit}'] / lung) if lung else None
        return out

    every = slice(None)
    rows: Dict[str, dict] = {'total': row([(RIGHT, every), (LEFT, every)])}
    for col, side in enumerate((RIGHT, LEFT)):
        rows[SIDE_NAMES[side]] = row([(side, every)])
        for z, zone in enumerate(ZONES):
            rows[f'{SIDE_NAMES[side]}_{zone}'] = row([(side, zones[:, col] == z)])
    return rows


def assign_sides(sides: np.ndarray, lesions: np.ndarray, midline: np.ndarray) -> tuple:
    """Add the lesion voxels outside the classical lung mask to the lung.

    A consolidation against the chest wall is not air, so the threshold mask misses it;
    it is lung all the same. Each such voxel takes the side of the slice's midline.

    Returns:
        ``(sides, added)``: the new side map and the number of voxels added.
    """
    outside = lesions & (sides == 0)
    added = int(outside.sum())
    if not added:
        return sides, 0
    by_midline = side_by_midline(sides.shape, midline)
    return np.where(outside, by_midline, sides).astype(np.uint8), added
