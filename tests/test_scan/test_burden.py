"""Lesion burden against the phantom's truth, and its table's arithmetic."""
import os.path as osp

import numpy as np
import pytest

from mmdet_covid.io.ct_io import load_nifti_hu  # a label volume: not CT values
from mmdet_covid.io.scan_reader import read_ct_volume
from mmdet_covid.scan import (ZONES, assign_sides, lesion_burden, lesion_labels, lung_mask,
                              zone_map)


@pytest.mark.parametrize('cls', ['COVID-19', 'CP'])
def test_burden_of_the_drawn_lesions_equals_the_truth(phantom_scans, cls):
    folder, truth = phantom_scans[cls]
    vol = read_ct_volume(osp.join(folder, 'dicom'))
    drawn = np.rint(load_nifti_hu(osp.join(folder, 'truth_mask.nii.gz')))
    lesions = drawn >= 2
    sides, midline = lung_mask(vol.hu, vol.spacing)
    sides, _ = assign_sides(sides, lesions, midline)
    table = lesion_burden(lesion_labels(lesions, vol.hu), sides, vol.voxel_ml)
    total = table['total']
    # every lesion voxel counted, split at -300 HU exactly as the truth counts it
    assert total['lesion_voxels'] == truth['voxels']['lesion'] > 0
    assert total['consolidation_voxels'] == truth['voxels']['consolidation_by_hu']
    assert total['ggo_voxels'] + total['consolidation_voxels'] == total['lesion_voxels']
    assert total['lesion_ml'] == pytest.approx(truth['ml']['lesion'])
    # the lung volume (the percentage's denominator) within 3% of the drawn lungs
    assert total['lung_ml'] == pytest.approx(truth['ml']['lung'], rel=0.03)
    assert total['lesion_percent'] == pytest.approx(truth['lesion_percent_of_lung'], rel=0.03)
    for key in ('lung_voxels', 'lesion_voxels', 'ggo_voxels', 'consolidation_voxels'):
        assert table['right'][key] + table['left'][key] == total[key]
        for side in ('right', 'left'):
            assert sum(table[f'{side}_{z}'][key] for z in ZONES) == table[side][key]


def test_zones_are_thirds_of_each_lungs_extent():
    sides = np.zeros((9, 4, 4), np.uint8)
    sides[0:9, :, :2] = 1  # right lung on all 9 slices
    sides[3:9, :, 2:] = 2  # left lung on slices 3-8
    zones = zone_map(sides)
    assert zones[:, 0].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert zones[:, 1].tolist() == [-1, -1, -1, 0, 0, 1, 1, 2, 2]


def test_burden_without_units_and_lesions_outside_the_lung():
    hu = np.full((3, 4, 4), -850, np.float32)
    sides = np.ones((3, 4, 4), np.uint8)
    sides[:, :, 2:] = 2
    sides[:, 0, :] = 0
    lesions = np.zeros_like(sides, bool)
    lesions[1, 1:3, 0] = True
    hu[1, 1, 0] = 0  # one consolidation voxel, one ground-glass voxel
    lesions[1, 0, 3] = True  # outside the lung mask
    with pytest.raises(ValueError, match='1 lesion voxel.* assign_sides'):
        lesion_burden(lesion_labels(lesions, hu), sides)
    sides, added = assign_sides(sides, lesions, np.full(3, 1.5))
    assert added == 1 and sides[1, 0, 3] == 2
    table = lesion_burden(lesion_labels(lesions, hu), sides)
    assert 'lesion_ml' not in table['total']
    assert (table['total']['lesion_voxels'], table['total']['consolidation_voxels']) == (3, 1)
    assert table['right']['lesion_voxels'] == 2 and table['left']['lesion_voxels'] == 1
    assert table['total']['lesion_percent'] == pytest.approx(100 * 3 / 37)
