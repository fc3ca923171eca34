"""Lesion burden per lobe and the CT severity score, against the phantom's truth."""
import os.path as osp

import nibabel as nib
import numpy as np
import pytest

from mmdet_covid.io.ct_io import CTReadError
from mmdet_covid.io.label_volume import read_label_volume
from mmdet_covid.io.scan_reader import read_ct_volume
from mmdet_covid.scan.lobes import (CONVENTIONS, LOBES, LobeLabelError, detect_convention,
                                    load_lobes, lobe_burden, lobe_score, parse_lobe_labels)


@pytest.mark.parametrize('percent, score', [
    (0.0, 0), (0.01, 1), (4.99, 1), (5.0, 2), (25.0, 2), (25.5, 3), (49.9, 3), (50.0, 4),
    (75.0, 4), (75.01, 5), (100.0, 5)])
def test_pan_scores_by_involvement(percent, score):
    assert lobe_score(percent) == score


def test_lobe_label_conventions():
    assert detect_convention([0, 1, 2, 3, 4, 5]) == ('lungmask', CONVENTIONS['lungmask'])
    assert detect_convention([0, 5, 10, 11, 12, 13, 14, 51])[0] == 'totalsegmentator'
    with pytest.raises(LobeLabelError, match=r'values \[20, 30\].*--lobe-labels'):
        detect_convention([0, 20, 30])
    given = parse_lobe_labels('13:LUL, 14:lll,15:RUL,16:RML,17:RLL')
    assert given == {13: 'LUL', 14: 'LLL', 15: 'RUL', 16: 'RML', 17: 'RLL'}
    for spec, match in (('1:LUL,2:XYZ', "item '2:XYZ'"), ('1:LUL,1:LLL', 'value 1 given twice'),
                        ('1:LUL,2:LLL', 'missing RUL, RML, RLL'),
                        ('1:LUL,2:LUL,3:RUL,4:RML,5:RLL', 'missing LLL; more than once LUL')):
        with pytest.raises(LobeLabelError, match=match):
            parse_lobe_labels(spec)


def test_burden_per_lobe_by_hand():
    lobes = np.zeros((2, 4, 5), np.uint8)
    lobes[0, :2], lobes[0, 2:], lobes[1, :2], lobes[1, 2:, :4] = 3, 4, 5, 1  # RUL RML RLL LUL
    lobes[1, 2:, 4] = 2  # LLL: 2 voxels
    labels = np.zeros_like(lobes)
    labels[0, 0, :1] = 1  # RUL: 1 of 10 voxels ground glass
    labels[1, 3, 4] = 2  # LLL: 1 of 2 consolidation
    labels[1, 3, 0:3] = 1  # LUL: 3 of 8
    table = lobe_burden(labels, lobes, CONVENTIONS['lungmask'], voxel_ml=0.5)
    rows = table['lobes']
    assert list(rows) == list(LOBES)
    assert rows['RUL']['lesion_percent'] == 10.0 and rows['RUL']['score'] == 2
    assert rows['RML']['lesion_voxels'] == 0 and rows['RML']['score'] == 0
    assert rows['LUL']['lesion_percent'] == 37.5 and rows['LUL']['score'] == 3
    assert rows['LLL']['consolidation_ml'] == 0.5 and rows['LLL']['score'] == 4
    assert table['severity_score'] == 2 + 0 + 0 + 3 + 4 and table['max_score'] == 25
    labels[0, 0, 0] = 0
    lobes[0, 0, 1] = 0
    labels[0, 0, 1] = 1  # a lesion voxel in no lobe
    assert lobe_burden(labels, lobes, CONVENTIONS['lungmask'])['lesion_voxels_outside_lobes'] \
        == 1
    lobes[lobes == 4] = 0  # no middle lobe: no score
    table = lobe_burden(labels, lobes, CONVENTIONS['lungmask'])
    assert table['lobes_missing'] == ['RML'] and table['severity_score'] is None


@pytest.mark.parametrize('kind', ['dicom', 'nifti'])
def test_phantom_lobes_and_truth_give_the_true_lobe_burden(phantom_scans, kind):
    folder, truth = phantom_scans['COVID-19']
    source = osp.join(folder, 'dicom') if kind == 'dicom' else \
        osp.join(folder, osp.basename(folder) + '.nii.gz')
    volume = read_ct_volume(source)
    lobes = load_lobes(osp.join(folder, 'lobes.nii.gz'), volume)
    assert lobes.convention == 'lungmask'
    drawn = read_label_volume(osp.join(folder, 'truth_mask.nii.gz'), volume)
    lesions = (drawn >= 2).astype(np.uint8)
    table = lobes.burden(lesions, volume.slice_voxel_ml)
    for lobe, row in table['lobes'].items():
        assert row['lobe_voxels'] == truth['lobes'][lobe]['lobe_voxels'] > 0
        assert row['lesion_voxels'] == truth['lobes'][lobe]['lesion_voxels']
    expected = sum(lobe_score(100.0 * t['lesion_voxels'] / t['lobe_voxels'])
                   for t in truth['lobes'].values())
    assert table['severity_score'] == expected > 0
    assert table['lesion_voxels_outside_lobes'] == 0


def test_lobes_stored_in_another_orientation_are_placed_on_the_scan(phantom_scans, tmp_path):
    folder, _ = phantom_scans['CP']
    volume = read_ct_volume(osp.join(folder, 'dicom'))
    img = nib.load(osp.join(folder, 'lobes.nii.gz'))
    flipped = img.as_reoriented(np.array([[1, -1], [0, 1], [2, -1]]))  # x and z reversed
    nib.save(flipped, tmp_path / 'flipped.nii.gz')
    assert np.array_equal(read_label_volume(str(tmp_path / 'flipped.nii.gz'), volume),
                          read_label_volume(osp.join(folder, 'lobes.nii.gz'), volume))


def test_lobes_of_another_grid_are_refused_naming_both(phantom_scans, tmp_path):
    folder, _ = phantom_scans['CP']
    volume = read_ct_volume(osp.join(folder, 'dicom'))
    img = nib.load(osp.join(folder, 'lobes.nii.gz'))
    cropped = nib.Nifti1Image(np.asanyarray(img.dataobj)[:, :, 1:], img.affine)
    nib.save(cropped, tmp_path / 'cropped.nii.gz')
    with pytest.raises(CTReadError, match=r'cropped.nii.gz: labels on \(128, 128, 11\) voxels.*'
                                          r'the scan .* is on \(128, 128, 12\) voxels'):
        load_lobes(str(tmp_path / 'cropped.nii.gz'), volume)
    affine = img.affine.copy()
    affine[2, 3] += 2.5  # half a slice along the body axis
    nib.save(nib.Nifti1Image(np.asanyarray(img.dataobj), affine), tmp_path / 's.nii.gz')
    with pytest.raises(CTReadError, match='origin'):
        load_lobes(str(tmp_path / 's.nii.gz'), volume)
    fractional = nib.Nifti1Image(np.asanyarray(img.dataobj) + 0.5, img.affine)
    nib.save(fractional, tmp_path / 'f.nii.gz')
    with pytest.raises(CTReadError, match='not whole numbers'):
        load_lobes(str(tmp_path / 'f.nii.gz'), volume)
