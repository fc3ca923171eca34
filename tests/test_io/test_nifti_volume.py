"""NIfTI geometry and values checked before a scan is analysed."""
import struct

import nibabel as nib
import numpy as np
import pytest

from mmdet_covid.io import ct_volume
from mmdet_covid.io.ct_io import CTInputWarning, CTReadError
from mmdet_covid.io.scan_reader import read_ct_volume


def _chest(shape=(32, 32, 6)) -> np.ndarray:
    """Air around a soft-tissue body with two air lungs: plausible CT values."""
    data = np.full(shape, -1000, np.int16)
    data[4:28, 6:26] = 40
    data[7:14, 9:23] = -850
    data[18:25, 9:23] = -850
    return data


def _rotation(degrees: float) -> np.ndarray:
    """An affine rotated about the patient's left-right axis (x)."""
    a = np.radians(degrees)
    affine = np.eye(4)
    affine[1:3, 1:3] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    return affine


def _save(tmp_path, data, affine, name='scan.nii.gz') -> str:
    img = nib.Nifti1Image(data, affine)
    path = str(tmp_path / name)
    nib.save(img, path)
    return path


def test_a_zero_slice_spacing_is_an_error_not_one_millimetre(tmp_path):
    header = nib.Nifti1Header()  # no sform / qform: the grid is pixdim alone
    header.set_data_dtype(np.int16)
    header['pixdim'][1:4] = [0.7, 0.7, 2.0]
    path = tmp_path / 'flat.nii'
    nib.save(nib.Nifti1Image(_chest(), None, header=header), str(path))
    raw = bytearray(path.read_bytes())
    raw[88:92] = struct.pack('<f', 0.0)  # pixdim[3], as a broken export writes it
    path.write_bytes(bytes(raw))
    assert nib.load(str(path)).header.get_zooms()[2] == 1  # what nibabel makes of it
    path = str(path)
    with pytest.raises(CTReadError, match=r'voxel sizes \(pixdim\[1:4\]\) \[0\.7, 0\.7, 0\.0\] '
                                          r'mm; expected positive'):
        read_ct_volume(path)
    # a qform's scale is pixdim itself: no rescue either
    raw = bytearray(open(path, 'rb').read())
    raw[252:254] = struct.pack('<h', 1)  # qform_code
    open(path, 'wb').write(bytes(raw))
    with pytest.raises(CTReadError, match='no sform gives the grid instead'):
        read_ct_volume(path)


def test_a_strongly_oblique_volume_is_refused_a_tilted_one_read_with_a_warning(tmp_path):
    with pytest.raises(CTReadError, match=r'slice axis \(voxel axis 2\) is 40\.0 degrees from '
                                          'the feet-head axis'):
        read_ct_volume(_save(tmp_path, _chest(), _rotation(40)))
    with pytest.warns(CTInputWarning, match='oblique by up to 12.0 degrees'):
        vol = read_ct_volume(_save(tmp_path, _chest(), _rotation(12), 'tilted.nii.gz'))
    assert vol.hu.shape == (6, 32, 32)


def test_a_volume_stored_along_another_axis_is_sliced_along_the_axial_one(tmp_path):
    data = _chest()
    sagittal = np.ascontiguousarray(data.transpose(2, 0, 1))  # slice axis first
    affine = np.eye(4)[:, [2, 0, 1, 3]]  # voxel axis 0 -> z
    vol = read_ct_volume(_save(tmp_path, sagittal, affine))
    np.testing.assert_array_equal(vol.hu, read_ct_volume(_save(tmp_path, data, np.eye(4),
                                                               'axial.nii.gz')).hu)


def test_a_label_volume_given_as_ct_is_refused_unless_forced(tmp_path):
    labels = (_chest() > 0).astype(np.uint8) * 2
    path = _save(tmp_path, labels, np.eye(4))
    with pytest.raises(CTReadError, match=r'do not look like a chest CT.*datatype uint8.*--force'):
        read_ct_volume(path)
    with pytest.warns(CTInputWarning, match='read anyway'):
        read_ct_volume(path, allow_non_ct=True)


def test_a_volume_over_the_voxel_cap_is_refused_from_its_header(tmp_path, monkeypatch):
    path = _save(tmp_path, _chest(), np.eye(4))
    monkeypatch.setattr(ct_volume, 'MAX_VOXELS', 32 * 32 * 5)
    with pytest.raises(CTReadError, match='6 slices of 32x32 pixels = 6,144 voxels in its '
                                          'header; expected at most 5,120'):
        read_ct_volume(path)
