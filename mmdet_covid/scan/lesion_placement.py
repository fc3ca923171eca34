"""Which detections are lung lesions: those that lie mostly in the lung, inside the chest.

A lesion model that never saw a real CT finds "lesions" in the subcutaneous and breast
fat, the chest-wall muscle, the stomach and the spleen under the diaphragm; the scan
analysis used to add every one of them to the lung, and a normal patient gained litres of
"lung". Here a detection counts only when at least ``min_share`` of its pixels lie within
``margin_mm`` of the classical lung mask (:func:`near_lung`; the lung mask fills the
holes of each lung, so ground glass and consolidation enclosed by lung are in it). Its
pixels then count where they lie inside the thoracic cavity, approximated per slice by
the convex hull of each lung widened by the same margin and no further than
``reach_mm`` from the lung (:func:`thoracic_cavity`): the part of a consolidation against
the chest wall that is not air lies inside it, the muscle and fat outside the ribs and
the heart inside the left lung's hull do not. Everything dropped is counted in the
report.

What the rule keeps and drops on three real series is in docs/real_data.md. Its price: a
large consolidation against the chest wall with little aerated lung around it is dropped
(the report counts it, with its volume).
"""
from typing import Optional, Tuple

import cv2
import numpy as np
from scipy import ndimage

from .lung_mask import LEFT, RIGHT, bounding_box, pixel_mm

# Millimetres around the lung mask that still count as lung for a detection.
LESION_MARGIN_MM = 3.0
# The share of a detection's pixels that must lie in the lung (within the margin).
MIN_LUNG_SHARE = 0.5
# How far from the lung mask the thoracic cavity reaches (mm).
CAVITY_REACH_MM = 10.0


def margin_pixels(spacing: Optional[Tuple[float, float, float]], width: int,
                  margin_mm: float) -> int:
    """``margin_mm`` in pixels of a slice (:func:`~.lung_mask.pixel_mm`)."""
    return max(0, int(round(margin_mm / pixel_mm(spacing, width))))


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius < 1 or not mask.any():
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def near_lung(sides: np.ndarray, radius: int) -> np.ndarray:
    """(D, H, W) bool: the lung mask of each slice dilated by ``radius`` pixels."""
    return np.stack([_dilate(s > 0, radius) for s in sides]) if len(sides) else sides > 0


def thoracic_cavity(sides: np.ndarray, radius: int, reach: int) -> np.ndarray:
    """(D, H, W) bool: per slice, the convex hull of each lung (side) dilated by
    ``radius`` pixels, within ``reach`` pixels of the lung (the hull of the left lung
    also spans the heart it wraps around), less the holes of the lung mask (the lung
    mask fills every hole but the diaphragm's domes: liver, spleen, stomach).

    Each slice is computed on the box of its lung widened by the larger of ``radius``
    and ``reach`` (and a pixel): nothing outside it can be in the cavity, and the
    dilations cost by the pixels they visit."""
    cavity = np.zeros(sides.shape, bool)
    pad = max(radius, reach) + 1
    for k, full in enumerate(sides):
        found = bounding_box(full, pad)
        if found is None:
            continue
        y0, x0, y1, x1 = found
        side_map = full[y0:y1, x0:x1]
        lung = side_map > 0
        domes = ndimage.binary_fill_holes(lung) & ~lung
        hull = np.zeros(side_map.shape, np.uint8)
        for side in (RIGHT, LEFT):
            points = cv2.findNonZero((side_map == side).astype(np.uint8))
            if points is not None and len(points) >= 3:
                cv2.fillConvexPoly(hull, cv2.convexHull(points), 1)
            elif points is not None:
                hull[points[:, 0, 1], points[:, 0, 0]] = 1
        cavity[k, y0:y1, x0:x1] = _dilate(hull > 0, radius) & _dilate(lung, reach) & ~domes
    return cavity


def lung_lesions(masks: np.ndarray, near: np.ndarray, cavity: np.ndarray,
                 min_share: float = MIN_LUNG_SHARE) -> Tuple[np.ndarray, np.ndarray, dict]:
    """The lesion pixels of one slice from its detections' masks.

    Args:
        masks: (N, H, W) bool masks of the slice's detections (above the score
            threshold).
        near: (H, W) :func:`near_lung` of the slice.
        cavity: (H, W) :func:`thoracic_cavity` of the slice.
        min_share: share of a detection's pixels that must lie in ``near``.

    Returns:
        ``(lesions, kept, dropped)``: (H, W) bool lesion pixels; (N,) bool, the
        detections that lie in the lung; ``dropped`` counts pixels not counted:
        ``outside_lung`` (of the other detections, where no kept one lies) and
        ``outside_cavity`` (of kept detections).
    """
    empty = np.zeros(near.shape, bool)
    if len(masks) == 0:
        return empty, np.zeros(0, bool), dict(outside_lung=0, outside_cavity=0)
    area = masks.sum(axis=(1, 2))
    share = (masks & near[None]).sum(axis=(1, 2)) / np.maximum(area, 1)
    kept = (area > 0) & (share >= min_share)
    union = masks[kept].any(axis=0) if kept.any() else empty
    others = masks[~kept].any(axis=0) if (~kept).any() else empty
    return union & cavity, kept, dict(outside_lung=int((others & ~union).sum()),
                                      outside_cavity=int((union & ~cavity).sum()))
