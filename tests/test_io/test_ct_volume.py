"""Whole-scan reading: DICOM series (order, geometry, series choice), NIfTI, image folders."""
import os
import os.path as osp
import shutil

import cv2
import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from mmdet_covid.io.ct_io import CTInputWarning, CTReadError, apply_window
from mmdet_covid.io.dicom_series import list_dicom_series
from mmdet_covid.io.scan_reader import read_ct_volume
from tests.conftest import copy_series


def test_dicom_series_is_ordered_by_position_not_by_file_name(phantom_scans):
    folder, truth = phantom_scans['COVID-19']
    vol = read_ct_volume(osp.join(folder, 'dicom'))
    names = truth['slice_files_in_order']
    assert names != sorted(names)  # the phantom shuffles its file names
    assert vol.slice_names == names
    assert vol.kind == 'dicom' and vol.spacing == pytest.approx((5.0, 2.8125, 2.8125))
    assert vol.voxel_ml == pytest.approx(truth['voxel_ml'])
    # HU: stored uint16 - 1024 (RescaleIntercept); the NIfTI holds the same scan
    nifti = read_ct_volume(osp.join(folder, 'scan_0.nii.gz'))
    np.testing.assert_array_equal(vol.hu, nifti.hu)
    np.testing.assert_allclose(vol.affine, nifti.affine, atol=1e-6)
    # the affine maps slice k to z = 5 k mm (DICOM positions), columns towards the
    # patient's left (RAS x decreasing), rows towards posterior (RAS y decreasing)
    origin = vol.affine @ [0, 0, 0, 1]
    assert (vol.affine @ [0, 0, 3, 1])[2] - origin[2] == pytest.approx(15.0)
    assert (vol.affine @ [1, 0, 0, 1])[0] < origin[0]
    assert (vol.affine @ [0, 1, 0, 1])[1] < origin[1]


def test_a_folder_with_several_series_reads_the_axial_ct_with_most_slices(phantom_scans,
                                                                         tmp_path):
    folder, truth = phantom_scans['CP']
    mixed = tmp_path / 'mixed'
    shutil.copytree(osp.join(folder, 'dicom'), mixed / 'a')
    copy_series(osp.join(folder, 'dicom'), str(mixed / 'b'),
                SeriesInstanceUID='1.2.3.4.5', SOPInstanceUID=lambda ds: generate_uid())
    for name in truth['slice_files_in_order'][6:]:  # series b: the first 6 slices
        os.remove(mixed / 'b' / name)
    (mixed / 'notes.txt').write_text('not DICOM')
    series = list_dicom_series(str(mixed))
    assert [s['n_slices'] for s in series] == [12, 6]
    with pytest.warns(CTInputWarning, match='2 series; read .* the others: 1.2.3.4.5'):
        vol = read_ct_volume(str(mixed))
    assert vol.hu.shape[0] == 12 and vol.series['other_series'][0]['uid'] == '1.2.3.4.5'
    assert read_ct_volume(str(mixed), series_uid='1.2.3.4.5').hu.shape[0] == 6
    with pytest.raises(CTReadError, match=r'no series with SeriesInstanceUID 9\.9.*12 slices'):
        read_ct_volume(str(mixed), series_uid='9.9')


def test_non_ct_series_is_refused_unless_forced(phantom_scans, tmp_path):
    folder, _ = phantom_scans['Normal']
    copy_series(osp.join(folder, 'dicom'), str(tmp_path / 'mr'), Modality='MR')
    with pytest.raises(CTReadError, match="Modality MR; expected CT.*--force"):
        read_ct_volume(str(tmp_path / 'mr'))
    with pytest.warns(CTInputWarning, match='read as CT'):
        assert read_ct_volume(str(tmp_path / 'mr'), allow_non_ct=True).hu.shape[0] == 12


def test_repeated_and_uneven_positions(phantom_scans, tmp_path):
    folder, truth = phantom_scans['Normal']
    src = osp.join(folder, 'dicom')
    names = truth['slice_files_in_order']
    same = tmp_path / 'same'
    shutil.copytree(src, same)
    ds = pydicom.dcmread(same / names[4])
    ds.ImagePositionPatient = pydicom.dcmread(same / names[3]).ImagePositionPatient
    ds.save_as(same / names[4])
    with pytest.raises(CTReadError, match='same position'):
        read_ct_volume(str(same))
    gap = tmp_path / 'gap'
    shutil.copytree(src, gap)
    os.remove(gap / names[5])  # a missing slice: one gap of 10 mm among 5 mm
    with pytest.warns(CTInputWarning, match='uneven slice spacing: 1 of 10 gaps'):
        vol = read_ct_volume(str(gap))
    assert vol.spacing[0] == pytest.approx(5.0)


def test_a_series_stored_flipped_reads_in_display_orientation(phantom_scans, tmp_path):
    folder, _ = phantom_scans['COVID-19']
    plain = read_ct_volume(osp.join(folder, 'dicom'))
    flipped = tmp_path / 'flipped'
    os.makedirs(flipped)
    for name in os.listdir(osp.join(folder, 'dicom')):
        ds = pydicom.dcmread(osp.join(folder, 'dicom', name))
        pixels = ds.pixel_array[::-1, ::-1]
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        # the same voxels, stored from the other corner: both cosines reversed
        ds.ImagePositionPatient = [x + 127 * 2.8125, y + 127 * 2.8125, z]
        ds.ImageOrientationPatient = [-1, 0, 0, 0, -1, 0]
        ds.PixelData = np.ascontiguousarray(pixels).tobytes()
        ds.save_as(flipped / name)
    vol = read_ct_volume(str(flipped))
    np.testing.assert_array_equal(vol.hu, plain.hu)
    np.testing.assert_allclose(vol.affine, plain.affine, atol=1e-6)
    assert vol.series['flips'] == dict(rows=True, columns=True)


def test_nifti_labels_are_written_on_the_input_grid(phantom_scans, tmp_path):
    folder, _ = phantom_scans['CP']
    src = nib.load(osp.join(folder, 'scan_1.nii.gz'))
    # the same scan stored in another orientation (axes permuted and flipped)
    data = np.asanyarray(src.dataobj)[::-1].transpose(1, 0, 2)
    affine = src.affine[:, [1, 0, 2, 3]].copy()
    affine[:, 1] *= -1
    affine[:3, 3] = (src.affine @ [src.shape[0] - 1, 0, 0, 1])[:3]
    other = nib.Nifti1Image(np.ascontiguousarray(data), affine)
    path = str(tmp_path / 'other.nii.gz')
    nib.save(other, path)
    vol = read_ct_volume(path)
    np.testing.assert_array_equal(vol.hu, read_ct_volume(osp.join(folder, 'scan_1.nii.gz')).hu)
    labels = (vol.hu > 0).astype(np.uint8)  # any label volume in display orientation
    out = vol.to_nifti(labels)
    assert out.shape == other.shape
    np.testing.assert_allclose(out.affine, other.affine)
    np.testing.assert_array_equal(np.asanyarray(out.dataobj), np.asanyarray(other.dataobj) > 0)


def test_folder_of_8bit_slices_in_natural_order_without_units(tmp_path):
    hu = np.stack([np.full((32, 32), v, np.float32) for v in (-900, -600, -300)])
    for i, name in enumerate(('s2.png', 's10.png', 's11.png')):
        cv2.imwrite(str(tmp_path / name), apply_window(hu[i]))
    with pytest.warns(CTInputWarning, match='HU approximated from the lung window'):
        vol = read_ct_volume(str(tmp_path))
    assert vol.slice_names == ['s2.png', 's10.png', 's11.png']
    assert vol.spacing is None and vol.voxel_ml is None and not vol.hu_exact
    np.testing.assert_allclose(vol.hu[:, 0, 0], [-900, -600, -300], atol=1500 / 255)
    with pytest.raises(CTReadError,
                       match='--series 1.2 given, but the folder holds no DICOM series'):
        read_ct_volume(str(tmp_path), series_uid='1.2')
    with pytest.raises(CTReadError, match='does not exist'):
        read_ct_volume(str(tmp_path / 'missing'))
