"""Which detections count as lung lesions: in the lung, inside the thoracic cavity."""
import numpy as np

from mmdet_covid.scan.lesion_placement import (lung_lesions, margin_pixels, near_lung,
                                               thoracic_cavity)


def _slice_with_two_lungs() -> np.ndarray:
    """(1, 40, 40) side map: a right lung (1) and a left lung (2), each a rectangle with a
    notch (a concave border, as the heart makes in the left lung)."""
    sides = np.zeros((1, 40, 40), np.uint8)
    sides[0, 10:30, 4:16] = 1
    sides[0, 10:30, 24:36] = 2
    sides[0, 15:25, 24:28] = 0  # the notch, inside the left lung's hull
    return sides


def test_margin_in_pixels():
    assert margin_pixels((5.0, 0.7, 0.7), 512, 3.0) == 4
    assert margin_pixels(None, 512, 3.0) == 4  # a 36 cm field of view
    assert margin_pixels((5.0, 2.8, 2.8), 128, 0.0) == 0


def test_a_detection_counts_when_most_of_it_lies_in_the_lung():
    sides = _slice_with_two_lungs()
    near, cavity = near_lung(sides, 1)[0], thoracic_cavity(sides, 1, 40)[0]
    masks = np.zeros((3, 40, 40), bool)
    masks[0, 12:18, 6:12] = True  # inside the right lung
    masks[1, 0:6, 0:40] = True  # chest wall above the lungs, 4 rows from them
    masks[2, 15:25, 21:32] = True  # the notch, lung beside it, and 3 columns medial
    share = (masks[2] & near).sum() / masks[2].sum()
    assert 0.4 < share < 0.6
    lesions, kept, dropped = lung_lesions(masks, near, cavity, min_share=0.4)
    assert kept.tolist() == [True, False, True]
    assert dropped['outside_lung'] == masks[1].sum()
    # the notch lies in the convex hull (kept); of the 3 columns medial to the lung, the
    # one within the 1-pixel margin is kept, the other two are dropped
    assert lesions[15:25, 23:28].all() and not lesions[15:25, 21:23].any()
    assert dropped['outside_cavity'] == 20
    assert lesions.sum() == masks[0].sum() + masks[2].sum() - 20
    assert lung_lesions(masks, near, cavity, min_share=0.6)[1].tolist() == [True, False,
                                                                             False]


def test_the_share_decides_and_no_detection_gives_nothing():
    sides = _slice_with_two_lungs()
    near, cavity = near_lung(sides, 0)[0], thoracic_cavity(sides, 0, 40)[0]
    mask = np.zeros((1, 40, 40), bool)
    mask[0, 6:12, 6:12] = True  # 2 of 6 rows in the lung: a third
    assert lung_lesions(mask, near, cavity, min_share=0.3)[1].tolist() == [True]
    assert lung_lesions(mask, near, cavity, min_share=0.5)[1].tolist() == [False]
    lesions, kept, dropped = lung_lesions(np.zeros((0, 40, 40), bool), near, cavity)
    assert not lesions.any() and kept.size == 0 and dropped == dict(outside_lung=0,
                                                                   outside_cavity=0)


def test_the_cavity_reaches_no_further_than_its_reach_from_the_lung():
    sides = _slice_with_two_lungs()
    wide, narrow = thoracic_cavity(sides, 0, 40)[0], thoracic_cavity(sides, 0, 1)[0]
    assert wide[15:25, 24:28].all()  # the notch: inside the hull
    # within 1 pixel of the lung: only the notch's column beside it (and its corners)
    assert narrow[18:22, 27].all() and not narrow[18:22, 24:27].any()
    assert (narrow <= wide).all()


def test_the_cavity_computed_around_each_lung_is_the_whole_slice_one():
    """thoracic_cavity works on the box of each slice's lung widened by its reach: the
    same pixels as the definition on the whole slice (hull dilated by the margin, within
    the reach of the lung, less the holes of the lung mask)."""
    import cv2
    from scipy import ndimage

    rng = np.random.default_rng(0)
    sides = np.zeros((3, 64, 80), np.uint8)
    sides[0] = np.kron(rng.integers(0, 3, (8, 10)), np.ones((8, 8), np.uint8)) * \
        (rng.random((64, 80)) > 0.1)
    sides[0, :, :20] = 0
    sides[1, 2:6, 60:79] = 2  # a lung against the edge of the slice
    sides[1, 40:50, 3:9] = 1
    radius, reach = 2, 5

    def dilate(mask, r):
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        return cv2.dilate(mask.astype(np.uint8), kernel) > 0

    for k, side_map in enumerate(sides):
        lung = side_map > 0
        hull = np.zeros(side_map.shape, np.uint8)
        for side in (1, 2):
            points = cv2.findNonZero((side_map == side).astype(np.uint8))
            if points is not None and len(points) >= 3:
                cv2.fillConvexPoly(hull, cv2.convexHull(points), 1)
        expected = dilate(hull, radius) & dilate(lung, reach) & \
            ~(ndimage.binary_fill_holes(lung) & ~lung)
        assert np.array_equal(thoracic_cavity(sides, radius, reach)[k], expected)
    assert not thoracic_cavity(sides, radius, reach)[2].any()
