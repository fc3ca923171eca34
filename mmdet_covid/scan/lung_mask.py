"""A classical lung mask from the HU of a scan: threshold, connected components, holes.

Not a trained lung model: an approximation that is good on clear lungs and misses dense
tissue at the lung border (a consolidation against the chest wall is not air). The scan
analysis adds the lesions the SSM finds to the lung (:func:`assign_sides`), so that the
burden's denominator holds them. Steps, array operations on the whole volume or slice
by slice where a step is in-plane:

1. air: HU below ``threshold`` (default -500 HU, between aerated lung, about -850, and
   soft tissue, 0-100; Hu, Hoffman and Reinhardt, IEEE TMI 20(6), 2001, choose the
   threshold per scan iteratively in this range, we fix it);
2. outside air: the air of each axial slice connected to the slice's edge (room air,
   the air under the table) is removed;
3. small components: 3-D connected components under ``min_component`` of the largest
   (bowel gas, the trachea when it is not connected to a lung) are removed;
4. a morphological closing of ``closing_mm`` per slice smooths the border, then the holes
   of each slice are filled (vessels, airway walls, lesions enclosed by lung), except the
   cross-sections of the diaphragm's domes (liver, spleen, stomach) that the lung bases
   surround: holes of at least ``min_dome_mm2`` lying on the abdomen of the slice below;
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
# The smallest cross-section (mm2) of a diaphragm dome that the lung bases surround.
DOME_MM2 = 300.0
# The field of view assumed for a scan without physical units (the phantom's, and a
# typical chest CT's).
DEFAULT_FOV_MM = 360.0
SIDE_NAMES = {RIGHT: 'right', LEFT: 'left'}

# 8-connectivity within a slice (components of each slice), and 6-connectivity in 3-D
_PLANE = np.ones((3, 3), bool)
_VOLUME = ndimage.generate_binary_structure(3, 1)


def _edge_components(mask: np.ndarray) -> np.ndarray:
    """The parts of ``mask`` (D, H, W) connected, within their slice, to the slice edge
    (8-connected in the slice). Labelled slice by slice: a label image of one slice at a
    time, not of the volume (4 bytes a voxel)."""
    out = np.zeros_like(mask)
    for k, plane in enumerate(mask):
        labels, n = ndimage.label(plane, structure=_PLANE)
        if n == 0:
            continue
        edge = np.zeros(n + 1, bool)
        for border in (labels[0, :], labels[-1, :], labels[:, 0], labels[:, -1]):
            edge[border] = True
        edge[0] = False
        out[k] = edge[labels]
    return out


def _fill_holes_per_slice(mask: np.ndarray) -> np.ndarray:
    """Fill the holes of every axial slice of ``mask``: background not connected to the
    slice edge within the slice."""
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
              closing_mm: float = 5.0,
              min_dome_mm2: float = DOME_MM2) -> Tuple[np.ndarray, np.ndarray]:
    """Lung mask of a scan, each voxel labelled with its side.

    Args:
        hu: (D, H, W) HU, axial slices in display orientation.
        spacing: (slice, row, column) mm; without it, ``closing_mm`` is taken as 1% of
            the slice width per mm.
        threshold: HU below which a voxel is air.
        min_component: components smaller than this share of the largest are dropped;
            also the share the second lung must reach to be taken as a lung.
        closing_mm: radius of the per-slice closing.
        min_dome_mm2: holes of the lung mask from this area on that continue the abdomen
            of the slice below are the diaphragm's domes, not lung (:func:`_domes`).

    Returns:
        ``sides`` (D, H, W) uint8: 0 outside the lungs, :data:`RIGHT` (1), :data:`LEFT`
        (2); and ``midline`` (D,) float: the column that splits the sides in each slice
        (the body's mean column), used to give lesions outside the mask a side.
    """
    if hu.ndim != 3:
        raise ValueError(f'hu of shape {hu.shape}: expected (slices, rows, columns)')
    air = hu < threshold
    body = ~_edge_components(air)
    midline = _midline(body)
    candidates = air & body
    del air
    if spacing is not None:
        radius = int(round(closing_mm / float(spacing[1])))
    else:
        radius = int(round(closing_mm * 0.01 * hu.shape[2]))
    sides = np.zeros(hu.shape, np.uint8)
    # everything below happens in the box of the candidates (and a pixel of background
    # around it, so that hole filling sees the same outside): the same voxels, fewer
    # bytes per labelled voxel
    found = bounding_box(candidates, pad=1)
    if found is None:
        return sides, midline
    y0, x0, y1, x1 = found
    box = (slice(None), slice(y0, y1), slice(x0, x1))
    sides[box] = _sides(candidates[box], body[box], midline - x0, min_component, radius,
                        min_dome_mm2 / pixel_mm(spacing, hu.shape[2]) ** 2)
    return sides, midline


def bounding_box(mask: np.ndarray, pad: int = 0) -> Optional[Tuple[int, int, int, int]]:
    """``(y0, x0, y1, x1)`` (end exclusive) of the true pixels of a (H, W) mask, or of
    a (D, H, W) mask over all its slices, widened by ``pad`` pixels and clipped to the
    image; None where the mask is empty."""
    seen = mask.reshape(-1, *mask.shape[-2:]).any(axis=0)
    rows, cols = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
    if not len(rows):
        return None
    height, width = seen.shape
    return (max(int(rows[0]) - pad, 0), max(int(cols[0]) - pad, 0),
            min(int(rows[-1]) + 1 + pad, height), min(int(cols[-1]) + 1 + pad, width))


def _sides(candidates: np.ndarray, body: np.ndarray, midline: np.ndarray,
           min_component: float, radius: int, min_dome_px: float) -> np.ndarray:
    """Steps 3-5 of :func:`lung_mask` on the air inside the body (``candidates``), the
    body and the midline columns of a box of the scan: the box's side map."""
    labels, n = ndimage.label(candidates, structure=_VOLUME)
    if n == 0:
        return np.zeros(candidates.shape, np.uint8)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    order = np.argsort(sizes)[::-1]
    largest = sizes[order[0]]
    keep = np.zeros(n + 1, bool)
    keep[order[sizes[order] >= min_component * largest]] = True
    keep[0] = False
    closed = _close_per_slice(keep[labels], radius)
    filled = _fill_holes_per_slice(closed)
    # holes on the body outside the lungs (the abdomen) of the slice below
    domes = _domes(filled & ~closed, body & ~filled, min_dome_px)
    del closed
    lungs = filled
    lungs &= ~domes
    del domes

    by_midline = side_by_midline(candidates.shape, midline)
    two = n >= 2 and sizes[order[1]] >= min_component * largest
    if not two:
        return np.where(lungs, by_midline, 0).astype(np.uint8)
    # the two lungs: whole components, by which side of the midline holds most of them
    a, b = order[0], order[1]
    first_right = _mean_column(labels == a) < _mean_column(labels == b)
    comp_side = np.zeros(n + 1, np.uint8)
    comp_side[a] = RIGHT if first_right else LEFT
    comp_side[b] = LEFT if first_right else RIGHT
    # other kept components and filled-in voxels take the side of the midline
    side = comp_side[labels]
    del labels
    return np.where(lungs, np.where(side > 0, side, by_midline), 0).astype(np.uint8)


def _domes(holes: np.ndarray, outside: np.ndarray, min_area: float) -> np.ndarray:
    """The holes of the lung mask that are the diaphragm's domes, not lung.

    Near the lung bases an axial slice cuts the liver's or the spleen's dome, or the
    stomach under the left hemidiaphragm, as an island of tissue surrounded by lung:
    filling the holes of the slice would make it lung. Going from the feet to the head,
    a hole of at least ``min_area`` pixels that lies for at least half of its area on
    what the slice below (towards the feet) has outside the lungs (the abdomen) is a
    dome, and so is a hole of any size that lies on a dome of the slice below (up to the
    dome's tip). Vessels are smaller; a lesion enclosed by lung has lung or the next
    lesion slice below it.

    Args:
        holes: (D, H, W) the pixels that hole filling added to the lung mask.
        outside: (D, H, W) the body outside the filled lung mask.
        min_area: the smallest dome cross-section, in pixels.
    """
    domes = np.zeros_like(holes)
    for k in range(1, holes.shape[0]):
        if not holes[k].any():
            continue
        labels, n = ndimage.label(holes[k])
        if n == 0:
            continue
        area = np.bincount(labels.ravel(), minlength=n + 1)
        on_abdomen = np.bincount(labels.ravel(), weights=outside[k - 1].ravel(),
                                 minlength=n + 1)
        on_dome = np.bincount(labels.ravel(), weights=domes[k - 1].ravel(), minlength=n + 1)
        # a dome starts large on the abdomen, then narrows to its tip slice by slice
        dome = (((area >= max(min_area, 1.0)) & (on_abdomen >= 0.5 * area))
                | (on_dome + on_abdomen >= 0.5 * area) & (on_dome > 0))
        dome[0] = False
        domes[k] = dome[labels]
    return domes


def _mean_column(mask: np.ndarray) -> float:
    """The mean column of a (D, H, W) mask's voxels (from its count per column)."""
    per_column = mask.sum(axis=(0, 1), dtype=np.int64)
    return float((per_column * np.arange(mask.shape[2])).sum() / max(per_column.sum(), 1))


def pixel_mm(spacing: Optional[Tuple[float, float, float]], width: int) -> float:
    """The column spacing of a scan's pixels in mm; without physical units,
    :data:`DEFAULT_FOV_MM` over the slice's ``width`` in pixels."""
    return float(spacing[2]) if spacing is not None else DEFAULT_FOV_MM / width


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
