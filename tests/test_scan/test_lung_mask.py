"""The classical lung mask against the phantom's drawn lungs."""
import os.path as osp

import numpy as np
import pytest

from mmdet_covid.io.ct_io import load_nifti_hu  # a label volume: not CT values
from mmdet_covid.io.scan_reader import read_ct_volume
from mmdet_covid.scan import LEFT, RIGHT, assign_sides, lung_mask
from mmdet_covid.scan.lung_mask import bounding_box


def _truth(folder):
    mask = load_nifti_hu(osp.join(folder, 'truth_mask.nii.gz'))
    return np.rint(mask).astype(np.uint8)


@pytest.mark.parametrize('cls', ['Normal', 'COVID-19', 'CP'])
def test_lung_mask_matches_the_drawn_lungs(phantom_scans, cls):
    folder, truth = phantom_scans[cls]
    vol = read_ct_volume(osp.join(folder, 'dicom'))
    sides, midline = lung_mask(vol.hu, vol.spacing)
    drawn = _truth(folder)
    lungs = sides > 0
    dice = 2 * (lungs & (drawn >= 1)).sum() / (lungs.sum() + (drawn >= 1).sum())
    # dense lesions against the chest wall are not air: the mask misses them (CP most)
    assert dice > (0.9 if cls == 'CP' else 0.95)
    # with the lesions added (as the scan analysis does), the lung volume is within 3%
    sides, _ = assign_sides(sides, drawn >= 2, midline)
    assert (sides > 0).sum() == pytest.approx(truth['voxels']['lung'], rel=0.03)
    assert (sides == RIGHT).sum() == pytest.approx(truth['voxels']['right_lung'], rel=0.05)
    assert (sides == LEFT).sum() == pytest.approx(truth['voxels']['left_lung'], rel=0.05)


def test_outside_air_and_small_pockets_are_not_lung():
    hu = np.full((3, 40, 60), -1000, np.float32)  # room air
    hu[:, 5:35, 5:55] = 40  # a body
    hu[:, 10:30, 10:25] = -850  # right lung (image left)
    hu[:, 10:30, 35:50] = -850  # left lung
    hu[:, 12:14, 28:30] = -900  # a small air pocket (the trachea) in the mediastinum
    hu[:, 20:24, 15:19] = 30  # a vessel inside the right lung: a hole, filled
    sides, midline = lung_mask(hu, (5.0, 1.0, 1.0), closing_mm=0)
    assert (sides[:, 10:30, 10:25] == RIGHT).all() and (sides[:, 10:30, 35:50] == LEFT).all()
    assert (sides > 0).sum() == 3 * (20 * 15 * 2)  # nothing else: no air outside, no pocket
    np.testing.assert_allclose(midline, 29.5)


def test_lungs_that_touch_are_split_at_the_body_midline():
    hu = np.full((2, 40, 60), -1000, np.float32)
    hu[:, 5:35, 5:55] = 40
    hu[:, 10:30, 10:50] = -850  # one air region across the middle
    sides, _ = lung_mask(hu, None, closing_mm=0)
    assert (sides[:, 10:30, 10:30] == RIGHT).all() and (sides[:, 10:30, 30:50] == LEFT).all()
    with pytest.raises(ValueError, match='expected \\(slices, rows, columns\\)'):
        lung_mask(hu[0])


def test_the_diaphragm_domes_are_not_lung_but_vessels_and_lesions_are():
    """Slices 0-1 are abdomen; from slice 2 two lungs, the right one surrounding the
    liver's dome (a large disc on slice 2, smaller on 3), a vessel (slice 4) and a
    lesion on lung (slice 5): 1 mm pixels, 2 mm slices."""
    yy, xx = np.mgrid[:96, :96]
    hu = np.full((6, 96, 96), -1000, np.float32)
    hu[:, 8:88, 4:92] = 40  # the body
    for k in range(2, 6):
        hu[k, 20:76, 12:44] = -850  # right lung (image left)
        hu[k, 20:76, 52:84] = -850  # left lung
    dome = {2: 14, 3: 6}
    for k, r in dome.items():
        hu[k][np.hypot(yy - 48, xx - 28) < r] = 50
    hu[4][np.hypot(yy - 30, xx - 28) < 3] = 40  # a vessel, 28 mm2
    hu[5][np.hypot(yy - 60, xx - 28) < 12] = 0  # a lesion, 452 mm2, lung below it
    sides, _ = lung_mask(hu, (2.0, 1.0, 1.0), closing_mm=0)
    lung = sides > 0
    for k, r in dome.items():  # the dome, to its tip, left out
        assert not lung[k][np.hypot(yy - 48, xx - 28) < r - 1].any()
    assert lung[4, 30, 28] and lung[5, 60, 28]  # vessel and lesion filled in
    assert not lung[:2].any()
    # without the dome rule the first dome slice would be filled in as lung
    assert lung_mask(hu, (2.0, 1.0, 1.0), closing_mm=0, min_dome_mm2=1e9)[0][2, 48, 28] > 0


def test_the_mask_of_a_scan_padded_with_air_is_the_same_mask(phantom_scans):
    """The mask is computed in the box of the air inside the body: more room air around
    the body (a wider field of view) changes nothing, and the slice-by-slice labelling of
    the air outside the body gives what one labelling of the volume gives."""
    from scipy import ndimage

    from mmdet_covid.scan.lung_mask import _edge_components

    folder, _ = phantom_scans['COVID-19']
    vol = read_ct_volume(osp.join(folder, 'dicom'))
    sides, midline = lung_mask(vol.hu, vol.spacing)
    padded = np.pad(vol.hu, ((0, 0), (30, 10), (5, 40)), constant_values=-1000.0)
    sides_padded, midline_padded = lung_mask(padded, vol.spacing)
    assert sides.any() and not sides_padded[:, :30].any()
    assert np.array_equal(sides_padded[:, 30:-10, 5:-40], sides)
    assert np.allclose(midline_padded - 5, midline)
    # the air connected to the slice edge: per slice, as one labelling with in-plane
    # 8-connectivity
    air = vol.hu < -500
    plane = np.zeros((3, 3, 3), bool)
    plane[1] = True
    labels, _ = ndimage.label(air, structure=plane)
    edge = np.unique(np.concatenate([labels[:, 0].ravel(), labels[:, -1].ravel(),
                                     labels[:, :, 0].ravel(), labels[:, :, -1].ravel()]))
    assert np.array_equal(_edge_components(air), np.isin(labels, edge[edge > 0]))


def test_bounding_box_of_a_slice_and_of_a_volume():
    mask = np.zeros((3, 10, 12), bool)
    mask[0, 2:4, 5:7] = True
    mask[2, 6, 1] = True
    assert bounding_box(mask[0]) == (2, 5, 4, 7)  # end exclusive
    assert bounding_box(mask) == (2, 1, 7, 7)  # over all slices
    assert bounding_box(mask, pad=3) == (0, 0, 10, 10)  # clipped to the image
    assert bounding_box(mask[1]) is None
