"""A classical lung mask from the HU of a scan: threshold, connected components, holes.

Not a trained lung model: an approximation that is good on clear lungs and misses dense
tissue at the lung border (a consolidation against the chest wall is not air). The scan
analysis adds the lesions the SSM finds to the lung (:func:`assign_sides`), so that the
burden's denominator holds them. Steps, all array operations on the whole volume:

1. air: HU below ``threshold`` (default -500 HU, between aerated lung, about -850, and
   soft tissue, 0-100; Hu, Hoffman and Reinhardt, IEEE TMI 20(6), 2001, choose the
   threshold per scan iteratively in this range, we fix it);
2. outside air: the air of each axial slice connected to the slice's edge (room air,
   the air under the table) is removed;
3. small components: 3-D connected components under ``min_component`` of the largest
   (bowel gas, the trachea when it is not connected to a lung) are removed;
4. holes of each slice are filled (vessels, airway walls, lesions enclosed by lung), then
   a morphological closing of ``closing_mm`` per slice smooths the border;
5. sides: when the two largest components are both lungs (the second at least
   ``min_component`` of the first), the one on the image left is the right lung (display
   orientation: the patient's right on the image left); when the lungs touch, each slice
   is split at the body's mean column (everything that is not outside air).
"""
from typing import Optional, Tuple

import cv2
import numpy as np
from scipy import ndimage

RIGHT, LEFT = 1, 2  # label values of the side map
SIDE_NAMES = {RIGHT: 'right', LEFT: 'left'}

# in-plane connectivity only (components of each slice), and full 3-D connectivity
_PLANE = np.zeros((3, 3, 3), bool)
_PLANE[1] = True
_VOLUME = ndimage.generate_binary_structure(3, 1)


def _edge_components(mask: np.ndarray) -> np.ndarray:
    """The parts of ``mask`` (D, H, W) connected, within their slice, to the slice edge."""
    labels, n = ndimage.label(mask, structure=_PLANE)
    if n == 0:
        return np.zeros_like(mask)
    edge = np.zeros(n + 1, bool)
    for border in (labels[:, 0, :], labels[:, -1, :], labels[:, :, 0], labels[:, :, -1]):
        edge[np.unique(border)] = True
    edge[0] = False
    return edge[labels]


def _fill_holes_per_slice(mask: np.ndarray) -> np.ndarray:
    """Fill the holes of every axial slice of ``mask``: background not connected to the
    slice edge within the slice (one labelling of the whole volume)."""
    return mask | ~(mask | _edge_components(~mask))


def _close_per_slice(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius < 1:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    out = np.empty_like(mask)
    u8 = mask.astype(np.uint8)
    for k in range(mask.shape[0]):  # one OpenCV call per slice
        padded = cv2.copyMakeBorder(u8[k], radius, radius, radius, radius,
                                    cv2.BORDER_CONSTANT, value=0)
        closed = cv2.morphologyEx(padded, cv2.MORPH_CLOSE, kernel)
        out[k] = closed[radius:-radius, radius:-radius] > 0
    return out


def lung_mask(hu: np.ndarray, spacing: Optional[Tuple[float, float, float]] = None,
              threshold: float = -500.0, min_component: float = 0.1,
              closing_mm: float = 5.0) -> Tuple[np.ndarray, np.ndarray]:
    """Lung mask of a scan, each voxel labelled with its side.

    Args:
        hu: (D, H, W) HU, axial slices in display orientation.
        spacing: (slice, row, column) mm; without it, ``closing_mm`` is taken as 1% of
            the slice width per mm.
        threshold: HU below which a voxel is air.
        min_component: components smaller than this share of the largest are dropped;
            also the share the second lung must reach to be taken as a lung.
        closing_mm: radius of the per-slice closing.

    Returns:
        ``sides`` (D, H, W) uint8: 0 outside the lungs, :data:`RIGHT` (1), :data:`LEFT`
        (2); and ``midline`` (D,) float: the column that splits the sides in each slice
        (the body's mean column), used to give lesions outside the mask a side.
    """
    if hu.ndim != 3:
        raise ValueError(f'hu of shape {hu.shape}: expected (slices, rows, columns)')
    air = hu < threshold
    outside = _edge_components(air)
    body = ~outside
    midline = _midline(body)
    candidates = air & body
    labels, n = ndimage.label(candidates, structure=_VOLUME)
    sides = np.zeros(hu.shape, np.uint8)
    if n == 0:
        return sides, midline
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    order = np.argsort(sizes)[::-1]
    largest = sizes[order[0]]
    keep = np.zeros(n + 1, bool)
    keep[order[sizes[order] >= min_component * largest]] = True
    keep[0] = False
    if spacing is not None:
        radius = int(round(closing_mm / float(spacing[1])))
    else:
        radius = int(round(closing_mm * 0.01 * hu.shape[2]))
    lungs = _fill_holes_per_slice(_close_per_slice(keep[labels], radius))

    columns = np.arange(hu.shape[2])[None, None, :]
    by_midline = side_by_midline(hu.shape, midline)
    two = n >= 2 and sizes[order[1]] >= min_component * largest
    if two:
        # the two lungs: whole components, by which side of the midline holds most of them
        a, b = order[0], order[1]
        cols = ndimage.mean(np.broadcast_to(columns, hu.shape), labels, [a, b])
        first_right = cols[0] < cols[1]
        comp_side = np.zeros(n + 1, np.uint8)
        comp_side[a] = RIGHT if first_right else LEFT
        comp_side[b] = LEFT if first_right else RIGHT
        # other kept components and filled-in voxels take the side of the midline
        side = comp_side[labels]
        sides = np.where(lungs, np.where(side > 0, side, by_midline), 0).astype(np.uint8)
    else:
        sides = np.where(lungs, by_midline, 0).astype(np.uint8)
    return sides, midline


def side_by_midline(shape: Tuple[int, int, int], midline: np.ndarray) -> np.ndarray:
    """(D, H, W) uint8 side map of a whole volume ``shape``: :data:`RIGHT` left of each
    slice's ``midline`` column (the patient's right on the image left), :data:`LEFT` from
    it on."""
    columns = np.arange(shape[2])[None, None, :]
    side = np.where(columns < midline[:, None, None], RIGHT, LEFT).astype(np.uint8)
    return np.broadcast_to(side, shape)


def _midline(body: np.ndarray) -> np.ndarray:
    """(D,) the mean column of the body (everything that is not outside air) in each
    slice: its centre of mass, which a thin table under the patient hardly moves; the
    image centre in a slice without body."""
    counts = body.sum(axis=(1, 2))
    weighted = (body.sum(axis=1) * np.arange(body.shape[2])).sum(axis=1)
    centre = (body.shape[2] - 1) / 2.0
    return np.where(counts > 0, weighted / np.maximum(counts, 1), centre)
