"""DICOM series as real archives hold them: compressed syntaxes, odd file names, stray
files, missing or broken tags, duplicates, implausible values, oversized headers."""
import os
import os.path as osp
import shutil

import numpy as np
import pydicom
import pytest
from pydicom.uid import (DeflatedExplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless,
                         RLELossless)

from mmdet_covid.io import ct_volume
from mmdet_covid.io.ct_io import CTInputWarning, CTReadError
from mmdet_covid.io.dicom_series import header_text
from mmdet_covid.io.dicom_pixels import decoder_table
from mmdet_covid.io.scan_reader import read_ct_volume


@pytest.fixture
def series(phantom_scans, tmp_path):
    """A copy of the 12-slice COVID-19 phantom series and its slice file names in order."""
    folder, truth = phantom_scans['COVID-19']
    dst = tmp_path / 'series'
    shutil.copytree(osp.join(folder, 'dicom'), dst)
    return dst, truth['slice_files_in_order']


def _edit(path, **changes) -> None:
    ds = pydicom.dcmread(path)
    for key, value in changes.items():
        if value is None:
            delattr(ds, key)
        else:
            setattr(ds, key, value)
    ds.save_as(path)


def _gdcm_jpeg_lossless(src: str, dst: str) -> None:
    """Re-encode a file as JPEG Lossless SV1 (1.2.840.10008.1.2.4.70) with GDCM, the
    syntax of the COVID-CT-MD archive (pydicom has no encoder for it)."""
    import gdcm

    reader = gdcm.ImageReader()
    reader.SetFileName(src)
    assert reader.Read()
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1))
    change.SetInput(reader.GetImage())
    assert change.Change()
    writer = gdcm.ImageWriter()
    writer.SetFileName(dst)
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    assert writer.Write()


@pytest.mark.parametrize('syntax', [RLELossless, JPEGLSLossless, JPEG2000Lossless,
                                    DeflatedExplicitVRLittleEndian, 'jpeg-lossless'])
def test_compressed_series_read_back_identical(series, tmp_path, syntax):
    folder, names = series
    plain = read_ct_volume(str(folder))
    out = tmp_path / 'compressed'
    os.makedirs(out)
    for name in names:
        if syntax == 'jpeg-lossless':
            _gdcm_jpeg_lossless(str(folder / name), str(out / name))
            continue
        ds = pydicom.dcmread(folder / name)
        if syntax == DeflatedExplicitVRLittleEndian:
            ds.file_meta.TransferSyntaxUID = syntax
        else:
            ds.compress(syntax)
        ds.save_as(out / name, enforce_file_format=True)
    stored = pydicom.dcmread(out / names[0]).file_meta.TransferSyntaxUID
    assert stored == ('1.2.840.10008.1.2.4.70' if syntax == 'jpeg-lossless' else syntax)
    vol = read_ct_volume(str(out))
    np.testing.assert_array_equal(vol.hu, plain.hu)
    assert vol.slice_names == names and vol.series['transfer_syntax'] == stored.name


def test_every_compressed_syntax_of_real_archives_has_a_decoder():
    table = decoder_table()
    assert len(table) == 10
    missing = [row['name'] for row in table if not row['plugins'] and not row['native']
               and row['uid'] != DeflatedExplicitVRLittleEndian]
    assert not missing, f'no decoder installed for {missing}'


def test_an_undecodable_syntax_names_the_file_the_syntax_and_what_to_install(series):
    folder, names = series
    ds = pydicom.dcmread(folder / names[0])
    ds.file_meta.TransferSyntaxUID = '1.2.840.10008.1.2.4.100'  # MPEG2: no decoder anywhere
    ds.PixelData = pydicom.encaps.encapsulate([b'\0' * 64])
    ds['PixelData'].VR = 'OB'
    ds.save_as(folder / names[0], enforce_file_format=True)
    with pytest.raises(CTReadError, match=rf'{names[0]}: cannot decode the pixel data, '
                                          r'transfer syntax MPEG2.*pip install pylibjpeg'):
        read_ct_volume(str(folder))


def test_files_without_preamble_named_by_uid_and_a_stray_image_are_counted(series):
    folder, names = series
    renamed = {}
    for k, name in enumerate(names):
        ds = pydicom.dcmread(folder / name)
        os.remove(folder / name)
        uid_name = f'1.2.826.0.1.3680043.8.498.{k + 1}'  # dots, no .dcm, no preamble
        ds.preamble = None  # a raw data set: no preamble, no file meta
        del ds.file_meta
        pydicom.dcmwrite(folder / uid_name, ds, enforce_file_format=False,
                         implicit_vr=True, little_endian=True)
        with open(folder / uid_name, 'rb') as f:
            assert f.read(132)[128:132] != b'DICM'
        renamed[name] = uid_name
    (folder / 'scout.png').write_bytes(b'\x89PNG not really')
    with pytest.warns(CTInputWarning, match=r'1 file\(s\) that are not DICOM .*1 slice '
                                            r'image\(s\) among them.*scout.png'):
        vol = read_ct_volume(str(folder))
    assert vol.kind == 'dicom' and vol.slice_names == [renamed[n] for n in names]
    assert vol.series['files_not_read'] == 1


@pytest.mark.parametrize('tag,key', [('0020,0037', 'ImageOrientationPatient'),
                                     ('0020,0032', 'ImagePositionPatient'),
                                     ('0028,0030', 'PixelSpacing')])
def test_a_slice_missing_a_geometry_tag_is_named(series, tag, key):
    folder, names = series
    _edit(folder / names[5], **{key: None})
    with pytest.raises(CTReadError, match=rf'{names[5]}: no valid {key} \({tag}\)'):
        read_ct_volume(str(folder))


def test_multi_frame_ct_is_refused_with_a_conversion_hint(series):
    folder, names = series
    _edit(folder / names[0], NumberOfFrames=12)
    with pytest.raises(CTReadError, match='multi-frame .*12 frames.*dcm2niix'):
        read_ct_volume(str(folder))


def test_duplicate_sop_instance_uids(series):
    folder, names = series
    shutil.copy(folder / names[3], folder / 'copy_of_slice_3.dcm')
    with pytest.warns(CTInputWarning, match=r'1 file\(s\) repeat an image already read'):
        vol = read_ct_volume(str(folder))
    assert vol.hu.shape[0] == 12
    uid = pydicom.dcmread(folder / names[3]).SOPInstanceUID
    os.remove(folder / 'copy_of_slice_3.dcm')
    _edit(folder / names[7], SOPInstanceUID=uid)
    with pytest.raises(CTReadError, match=f'share the SOPInstanceUID {uid} at two positions'):
        read_ct_volume(str(folder))


@pytest.mark.parametrize('slope,match', [(0, 'RescaleSlope .* is 0; expected a positive'),
                                         (-1, 'RescaleSlope .* is -1; expected a positive')])
def test_a_zero_or_negative_slope_is_refused(series, slope, match):
    folder, names = series
    _edit(folder / names[2], RescaleSlope=slope)
    with pytest.raises(CTReadError, match=f'{names[2]}: {match}'):
        read_ct_volume(str(folder))


def test_values_that_are_not_hu_are_refused_naming_the_tags(series, tmp_path):
    folder, names = series
    for name in names:  # stored HU + 1024 without the intercept: no air anywhere
        _edit(folder / name, RescaleIntercept=None)
    with pytest.raises(CTReadError, match=r'do not look like a chest CT in HU.*0\.0% below '
                                          r'-850 HU.*RescaleIntercept absent.*--force'):
        read_ct_volume(str(folder))
    with pytest.warns(CTInputWarning, match='read anyway'):
        assert read_ct_volume(str(folder), allow_non_ct=True).hu.min() >= 0
    # a label mask or an MR image tagged CT: small non-negative values
    labels = tmp_path / 'labels'
    os.makedirs(labels)
    for k, name in enumerate(names):
        ds = pydicom.dcmread(folder / name)
        ds.RescaleIntercept = 0
        ds.PixelData = (np.arange(128 * 128, dtype=np.uint16).reshape(128, 128) % 3).tobytes()
        ds.save_as(labels / name)
    with pytest.raises(CTReadError, match=r'0 to 2 \(0\.1th-99\.9th percentile\)'):
        read_ct_volume(str(labels))


def test_an_8_bit_series_is_refused(series):
    folder, names = series
    for name in names:
        ds = pydicom.dcmread(folder / name)
        pixels = (ds.pixel_array >> 4).astype(np.uint8)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.PixelData = pixels.tobytes()
        ds.save_as(folder / name)
    with pytest.raises(CTReadError, match='BitsStored 8'):
        read_ct_volume(str(folder))


def test_headers_claiming_huge_slices_or_too_many_voxels_fail_before_decoding(
        series, monkeypatch):
    folder, names = series
    for name in names:
        _edit(folder / name, Rows=60000, Columns=60000)
    with pytest.raises(CTReadError, match=r'60000x60000 pixels in series .* at most 4096'):
        read_ct_volume(str(folder))
    for name in names:
        _edit(folder / name, Rows=128, Columns=128)
    monkeypatch.setattr(ct_volume, 'MAX_VOXELS', 128 * 128 * 10)
    with pytest.raises(CTReadError, match='12 slices of 128x128 pixels = 196,608 voxels'):
        read_ct_volume(str(folder))


def test_uneven_spacing_counts_each_slice_for_its_own_extent(series, tmp_path):
    folder, names = series
    plain = read_ct_volume(str(folder))
    os.remove(folder / names[5])  # a missing slice: one gap of 10 mm among 5 mm
    with pytest.warns(CTInputWarning, match='uneven slice spacing: 1 of 10 gaps'):
        vol = read_ct_volume(str(folder))
    assert vol.uneven and vol.spacing[0] == pytest.approx(5.0)
    # the two neighbours of the gap stand for 7.5 mm each; the scan's extent is kept
    np.testing.assert_allclose(vol.slice_thickness, [5, 5, 5, 5, 7.5, 7.5, 5, 5, 5, 5, 5])
    assert vol.slice_thickness.sum() == pytest.approx(plain.slice_thickness.sum())
    np.testing.assert_allclose(vol.slice_z_mm, np.delete(plain.slice_z_mm, 5))
    assert vol.geometry()['slice_z_mm'][5] == pytest.approx(plain.slice_z_mm[6])
    # the label volume lies on an even 5 mm grid: the gap is an empty slice
    labels = np.zeros(vol.hu.shape, np.uint8)
    labels[:, 10:20, 10:20] = 1
    out = vol.to_nifti(labels)
    assert out.shape == (128, 128, 12)
    np.testing.assert_allclose(out.affine, plain.affine, atol=1e-6)
    data = np.asanyarray(out.dataobj)
    assert data[..., 5].sum() == 0 and (data[..., [4, 6]].sum(axis=(0, 1)) == 100).all()


def test_a_series_with_one_slice_needs_its_thickness(series):
    folder, names = series
    for name in names[1:]:
        os.remove(folder / name)
    with pytest.warns(CTInputWarning, match='one slice; its thickness'):
        assert read_ct_volume(str(folder)).spacing[0] == pytest.approx(5.0)
    _edit(folder / names[0], SliceThickness=None)
    with pytest.raises(CTReadError, match=r'one slice without SliceThickness'):
        read_ct_volume(str(folder))


def test_pixel_padding_becomes_air(series):
    folder, names = series
    ds = pydicom.dcmread(folder / names[0])
    pixels = ds.pixel_array.copy()
    ds.add_new(0x00280120, 'US', 7)  # PixelPaddingValue: stored 7 = -1017 HU, or padding
    pixels[:4] = 7
    ds.PixelData = pixels.tobytes()
    ds.save_as(folder / names[0])
    vol = read_ct_volume(str(folder))
    assert (vol.hu[0, :4] == -1024).all()


def test_series_uid_of_another_folder_kind(tmp_path):
    nifti = tmp_path / 'scan.nii.gz'
    import nibabel as nib
    nib.save(nib.Nifti1Image(np.full((8, 8, 2), -1000, np.int16), np.eye(4)), nifti)
    with pytest.raises(CTReadError, match='--series 1.2 given, but the input is a NIfTI'):
        read_ct_volume(str(nifti), series_uid='1.2')


def test_rounded_positions_keep_the_affine_on_the_last_slice(series):
    """Positions rounded in the headers (0.62 / 0.63 mm gaps) are even spacing; the
    affine steps by the mean gap, so its last slice lies on the last position."""
    folder, names = series
    for k, name in enumerate(names):
        ds = pydicom.dcmread(folder / name)
        x, y, _ = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, round(k * 0.625, 2)]
        ds.save_as(folder / name)
    vol = read_ct_volume(str(folder))
    assert not vol.uneven and vol.spacing[0] == pytest.approx(round(11 * 0.625, 2) / 11)
    assert (vol.affine @ [0, 0, 11, 1])[2] == pytest.approx(round(11 * 0.625, 2))


def test_a_tilted_gantry_is_named(series):
    folder, names = series
    for k, name in enumerate(names):
        ds = pydicom.dcmread(folder / name)
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y + z * np.tan(np.radians(15)), z]  # slices shifted
        ds.save_as(folder / name)
    with pytest.warns(CTInputWarning, match=r'sheared by 15\.0 degrees \(gantry tilt\)'):
        vol = read_ct_volume(str(folder))
    assert vol.spacing[0] == pytest.approx(5.0)  # along the slice normal


def test_header_text_of_anonymised_headers():
    first, second = pydicom.Dataset(), pydicom.Dataset()
    first.PatientID = '  P001 '
    first.PatientName = ''  # type 2: present, empty
    second.PatientName = 'Other^Slice'
    assert header_text([first, second], 'PatientID') == 'P001'  # the first header's, stripped
    assert header_text([first, second], 'PatientName') is None
    assert header_text([first], 'SeriesDescription') is None  # absent
    assert header_text([], 'PatientID') is None
