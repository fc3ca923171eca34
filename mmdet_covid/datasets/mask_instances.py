"""Lesion instances from a semantic mask: connected components of each class."""
from typing import List, Sequence, Tuple

import cv2
import numpy as np
import pycocotools.mask as mask_utils


def mask_to_instances(mask: np.ndarray, values: Sequence[int], min_area: int
                      ) -> Tuple[List[dict], int]:
    """8-connected components of the pixels whose value is in ``values``.

    Args:
        mask: (H, W) uint8 value mask.
        values: mask values that form the class, e.g. (2, 3).
        min_area: components of ``<= min_area`` pixels are not instances.

    Returns:
        instances as dicts with ``segmentation`` (compressed RLE, ``counts`` as str),
        ``area`` (pixels) and ``bbox`` ([x, y, w, h], the tight box), and the number
        of components dropped by the area rule.
    """
    binary = np.isin(mask, values).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    instances, dropped = [], 0
    for k in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[k])
        if area <= min_area:
            dropped += 1
            continue
        component = np.asfortranarray(labels == k, dtype=np.uint8)
        rle = mask_utils.encode(component)
        rle['counts'] = rle['counts'].decode('ascii')
        instances.append(dict(segmentation=rle, area=area, bbox=[x, y, w, h]))
    return instances, dropped
