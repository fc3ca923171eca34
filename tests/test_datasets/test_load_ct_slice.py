"""LoadCTSlice: every source format becomes the same (H, W, 3) uint8 BGR image."""
import cv2
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from mmdet_covid.datasets.transforms import LoadCTSlice
from mmdet_covid.io.ct_io import (CTInputWarning, CTReadError, apply_window, iter_nifti_slices,
                                  nifti_slice_infos)

CT_SMALL = get_testdata_file('CT_small.dcm')


def load(path, **kwargs):
    results = LoadCTSlice(**kwargs)(dict(img_path=str(path)))
    img = results['img']
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert results['img_shape'] == results['ori_shape'] == img.shape[:2]
    return img


def test_lung_window_maps_level_and_width():
    hu = np.array([[-1350, -600, 150, -2000, 3000]], np.float32)
    np.testing.assert_array_equal(apply_window(hu), [[0, 128, 255, 0, 255]])
    np.testing.assert_array_equal(apply_window(hu, level=40, width=400)[0, :3], [0, 0, 198])
    with pytest.raises(ValueError, match='positive'):
        apply_window(hu, width=0)


def test_8bit_grey_rgb_and_jpeg(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (20, 30), np.uint8)
    cv2.imwrite(str(tmp_path / 'g.png'), grey)
    img = load(tmp_path / 'g.png')
    assert img.shape == (20, 30, 3)
    for c in range(3):
        np.testing.assert_array_equal(img[..., c], grey)
    bgr = rng.integers(0, 256, (20, 30, 3), np.uint8)
    cv2.imwrite(str(tmp_path / 'c.png'), bgr)
    np.testing.assert_array_equal(load(tmp_path / 'c.png'), bgr)  # BGR kept, like mmcv
    smooth = cv2.GaussianBlur(grey, (0, 0), 3)
    cv2.imwrite(str(tmp_path / 'g.jpg'), smooth, [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert np.abs(load(tmp_path / 'g.jpg')[..., 0].astype(int) - smooth).max() <= 3


def test_dicom_is_converted_to_hounsfield_units_then_windowed(tmp_path):
    ds = pydicom.dcmread(CT_SMALL)
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, -1024.0)
    stored = ds.pixel_array.astype(np.float32)
    img = load(CT_SMALL)
    assert img.shape == (128, 128, 3)
    np.testing.assert_array_equal(img[..., 0], apply_window(stored - 1024))
    # Stored 175 is -849 HU: (-849 + 1350) / 1500 * 255 = 85.2 in the lung window.
    assert stored[0, 0] == 175 and img[0, 0, 0] == 85
    # A soft-tissue window from the config reads the same HU differently.
    np.testing.assert_array_equal(load(CT_SMALL, window_level=40, window_width=400)[..., 1],
                                  apply_window(stored - 1024, 40, 400))
    # Slope and intercept are read from the file, not assumed (and no .dcm suffix is
    # needed: the DICM preamble identifies the file).
    ds.RescaleSlope, ds.RescaleIntercept = 2, -2048
    ds.save_as(str(tmp_path / 'slice_0001'))
    np.testing.assert_array_equal(load(tmp_path / 'slice_0001')[..., 2],
                                  apply_window(stored * 2 - 2048))


def test_16bit_png_stores_hu_plus_offset(tmp_path):
    hu = pydicom.dcmread(CT_SMALL).pixel_array.astype(np.int32) - 1024
    cv2.imwrite(str(tmp_path / 'deeplesion.png'), (hu + 32768).astype(np.uint16))
    cv2.imwrite(str(tmp_path / 'plus1024.png'), (hu + 1024).astype(np.uint16))
    expected = load(CT_SMALL)
    np.testing.assert_array_equal(load(tmp_path / 'deeplesion.png'), expected)
    np.testing.assert_array_equal(load(tmp_path / 'plus1024.png', hu_offset_16bit=1024),
                                  expected)


def test_16bit_png_with_the_wrong_offset_is_read_with_a_warning(tmp_path, recwarn):
    hu = pydicom.dcmread(CT_SMALL).pixel_array.astype(np.int32) - 1024
    cv2.imwrite(str(tmp_path / 'plus1024.png'), (hu + 1024).astype(np.uint16))
    load(tmp_path / 'plus1024.png', hu_offset_16bit=1024)
    load(CT_SMALL)
    assert not [w for w in recwarn if issubclass(w.category, CTInputWarning)]
    with pytest.warns(CTInputWarning, match=r'plus1024.png: 16-bit values minus the offset '
                                            r'32768 give -3\d{4} to .*--hu-offset'):
        load(tmp_path / 'plus1024.png')  # DeepLesion's default offset: every pixel ~ -31000


def test_dicom_of_another_modality_is_refused_unless_allowed(tmp_path):
    ds = pydicom.dcmread(CT_SMALL)
    ds.Modality = 'MR'
    ds.save_as(str(tmp_path / 'mr.dcm'))
    with pytest.raises(CTReadError, match=r"mr.dcm: DICOM with Modality 'MR'; expected a CT "
                                          r'image .*--force'):
        load(tmp_path / 'mr.dcm')
    with pytest.warns(CTInputWarning, match=r"mr.dcm: DICOM with Modality 'MR' read as CT"):
        img = load(tmp_path / 'mr.dcm', allow_non_ct=True)
    np.testing.assert_array_equal(img, load(CT_SMALL))
    del ds.Modality
    ds.save_as(str(tmp_path / 'none.dcm'))
    with pytest.raises(CTReadError, match='none.dcm: DICOM with no Modality tag'):
        load(tmp_path / 'none.dcm')


def test_nan_voxels_are_counted_named_and_shown_as_air(tmp_path):
    import nibabel as nib

    vol = np.full((6, 5, 4), 40.0, np.float32)
    vol[0, 0, 1] = np.nan
    vol[1:3, 0, 3] = np.inf
    path = str(tmp_path / 'holes.nii.gz')
    nib.save(nib.Nifti1Image(vol, np.eye(4)), path)
    with pytest.warns(CTInputWarning, match=r'holes.nii.gz: 3 NaN or infinite voxel value\(s\)'
                                            r' in 2 of 4 slices \(1-3\); shown as air'):
        slices = dict(iter_nifti_slices(path))
    air, tissue = apply_window(np.array([-1024.0, 40.0]))
    assert slices[1].min() == slices[3].min() == air and slices[0].min() == tissue


def test_2d_nifti_is_one_slice(tmp_path):
    import nibabel as nib

    grid = np.full((6, 5), -1000, np.int16)
    grid[0, 4] = 0
    path = str(tmp_path / 'slice.nii.gz')
    nib.save(nib.Nifti1Image(grid, np.eye(4)), path)
    assert nifti_slice_infos(path) == [dict(img_path=path, slice_index=0)]
    img = LoadCTSlice()(dict(img_path=path, slice_index=0))['img']
    assert img.shape == (5, 6, 3)
    assert np.argwhere(img[..., 0] > 200).tolist() == [[0, 5]]


@pytest.mark.parametrize('x_step, column', [(1.0, 5), (-1.0, 0)])
def test_nifti_volume_is_read_slice_by_slice_in_radiological_orientation(
        tmp_path, x_step, column):
    import nibabel as nib

    vol = np.full((6, 5, 4), -1000, np.int16)  # voxel axes (i, j, k)
    vol[0, 4, 2] = 0  # one bright voxel: i=0, j=4 (the most anterior), slice k=2
    # RAS+ world: x grows towards the patient's right. With a +1 x step voxel i=0 is
    # the patient's left-most (image right in radiological display, column 5); with a
    # -1 step (LAS storage, common in scanner exports) it is the right-most (column 0).
    path = str(tmp_path / 'scan.nii.gz')
    nib.save(nib.Nifti1Image(vol, np.diag([x_step, 1.0, 1.0, 1.0])), path)
    slices = list(iter_nifti_slices(path))
    assert [k for k, _ in slices] == [0, 1, 2, 3]
    img = slices[2][1]
    assert img.shape == (5, 6, 3)
    ys, xs = np.nonzero(img[..., 0] > 200)
    assert (ys.tolist(), xs.tolist()) == ([0], [column])  # anterior at the top
    infos = nifti_slice_infos(path)
    assert infos[3] == dict(img_path=path, slice_index=3)
    transform = LoadCTSlice()
    np.testing.assert_array_equal(transform(dict(infos[2]))['img'], img)
    with pytest.raises(IndexError, match='slice_index 9 outside'):
        transform(dict(img_path=path, slice_index=9))
    with pytest.raises(KeyError, match='slice_index'):
        transform(dict(img_path=path))


def test_missing_truncated_and_unreadable_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.png: CT slice not found'):
        load(tmp_path / 'nope.png')
    rng = np.random.default_rng(1)
    cv2.imwrite(str(tmp_path / 'cut.png'), rng.integers(0, 256, (64, 64), np.uint8))
    data = (tmp_path / 'cut.png').read_bytes()
    (tmp_path / 'cut.png').write_bytes(data[:len(data) // 2])
    with pytest.raises(CTReadError, match='cut.png: cannot decode'):
        load(tmp_path / 'cut.png')
    (tmp_path / 'bad.dcm').write_bytes(b'\0' * 200)
    with pytest.raises(CTReadError, match='bad.dcm: cannot read the DICOM file'):
        load(tmp_path / 'bad.dcm')
    (tmp_path / 'empty.png').write_bytes(b'')
    with pytest.raises(CTReadError, match='empty.png: empty file'):
        load(tmp_path / 'empty.png')
