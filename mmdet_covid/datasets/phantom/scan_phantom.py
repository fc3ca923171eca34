"""Whole-scan chest-CT phantoms: one patient as a DICOM series and as a NIfTI volume,
with the truth the scan analysis is checked against.

Each scan is one patient's body (the anatomy of :mod:`.slice_renderer`) cut at evenly
spaced positions from the lung bases (z = 0) to the upper thorax (z = 1). The lesions of
each slice are drawn by the slice's own random stream from the scan's pattern (COVID-19,
CP, or none); about 15% of the slices of a diseased scan have no lesion. Lesions are not
continuous from one slice to the next: the phantom checks volumes and geometry, not 3-D
shape. :func:`write_scan` writes, under its output folder::

    <scan>/dicom/<random name>.dcm   the series: CT Image Storage, HU + 1024 stored as
                                     uint16 with RescaleIntercept -1024, positions along
                                     +z, file names shuffled (not in slice order)
    <scan>/<scan>.nii.gz             the same HU (int16), RAS affine of the same geometry
    <scan>/truth_mask.nii.gz         0 outside, 1 lung, 2 GGO, 3 consolidation (drawn codes)
    <scan>/lobes.nii.gz              five phantom lobes in lungmask's LTRCLobes convention
                                     (1 LUL, 2 LLL, 3 RUL, 4 RML, 5 RLL): each lung's
                                     slice extent cut across the body axis, the right
                                     lung in thirds, the left in halves (real fissures
                                     are oblique; the phantom checks the arithmetic)
    <scan>/truth.json                spacing, class, voxel counts and volumes (mL)

``tools/make_phantom_scan.py`` is its command line.
"""
import json
import os
import os.path as osp
from typing import Optional, Tuple

import numpy as np

from .phantom_generator import phantom_rng
from .slice_renderer import (FIELD_OF_VIEW_MM, MASK_CONSOLIDATION, MASK_GGO, MASK_LUNG,
                             draw_slice, sample_anatomy)

STREAM = 3  # random streams of phantom_rng: 1 lesion set, 2 classification, 3 scans
PATTERN_OF_CLASS = {'Normal': 'normal', 'CP': 'cp', 'COVID-19': 'covid'}
EMPTY_SLICE_FRAC = 0.15
CONSOLIDATION_HU = -300.0  # for the truth's HU split (mmdet_covid.scan.burden's default)


def render_scan(size: int, n_slices: int, cls: str, seed: int, scan_id: int
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one scan.

    Returns:
        hu (D, H, W) float32, mask (D, H, W) uint8 in {0, 1, 2, 3}, sides (D, H, W)
        uint8 (1 right lung, 2 left lung), slices in display orientation feet to head.
    """
    pattern = PATTERN_OF_CLASS[cls]
    anatomy = sample_anatomy(phantom_rng(seed, STREAM, scan_id))
    hu = np.empty((n_slices, size, size), np.float32)
    mask = np.empty((n_slices, size, size), np.uint8)
    sides = np.empty((n_slices, size, size), np.uint8)
    for k, z in enumerate(np.linspace(0.0, 1.0, n_slices)):
        rng = phantom_rng(seed, STREAM, scan_id, k)
        empty = pattern != 'normal' and rng.random() < EMPTY_SLICE_FRAC
        r = draw_slice(size, anatomy, float(z), 'empty' if empty else pattern, False, rng)
        hu[k], mask[k] = r.hu_final, r.mask
        sides[k] = r.lung_sides['right'] + 2 * r.lung_sides['left']
    return hu, mask, sides


# lungmask's LTRCLobes values (mmdet_covid.scan.lobes.CONVENTIONS['lungmask'])
LOBE_VALUES = {'LUL': 1, 'LLL': 2, 'RUL': 3, 'RML': 4, 'RLL': 5}
# each lung's slice extent, feet to head: (lobe, share of the extent)
LOBE_SPLITS = {1: (('RLL', 1 / 3), ('RML', 1 / 3), ('RUL', 1 / 3)),
               2: (('LLL', 1 / 2), ('LUL', 1 / 2))}


def phantom_lobes(lung: np.ndarray, sides: np.ndarray) -> np.ndarray:
    """(D, H, W) uint8 lobe labels (:data:`LOBE_VALUES`) of the ``lung`` voxels: each
    side's slices cut across the body axis in the shares of :data:`LOBE_SPLITS`."""
    lobes = np.zeros(lung.shape, np.uint8)
    for side, splits in LOBE_SPLITS.items():
        in_side = lung & (sides == side)
        present = np.flatnonzero(in_side.any(axis=(1, 2)))
        if not present.size:
            continue
        first, count = present[0], present[-1] - present[0] + 1
        start = 0.0
        for lobe, share in splits:
            lo, hi = first + int(round(start * count)), first + int(round((start + share) * count))
            lobes[lo:hi][in_side[lo:hi]] = LOBE_VALUES[lobe]
            start += share
    return lobes


def _dicom_series(hu: np.ndarray, folder: str, name: str, seed: int, scan_id: int,
                  pixel_mm: float, slice_mm: float, rng: np.random.Generator) -> list:
    """Write ``hu`` as a CT series with shuffled file names; return the names in slice
    order."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    os.makedirs(folder, exist_ok=True)
    depth, rows, cols = hu.shape
    uid = lambda *key: generate_uid(entropy_srcs=[str(seed), name, *map(str, key)])  # noqa
    study, series, frame = uid('study'), uid('series'), uid('frame')
    x0, y0 = -(cols / 2) * pixel_mm, -(rows / 2) * pixel_mm
    stored = np.clip(np.rint(hu) + 1024, 0, 4095).astype(np.uint16)
    names = [f'{v:08x}.dcm' for v in rng.choice(16 ** 8, depth, replace=False)]
    for k in range(depth):
        sop = uid('instance', k)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop
        ds.Modality = 'CT'
        ds.ImageType = ['ORIGINAL', 'PRIMARY', 'AXIAL']
        ds.PatientName, ds.PatientID = f'Phantom^{name}', name
        ds.PatientBirthDate, ds.PatientSex = '19700101', 'O'
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = '20200301'
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = '120000'
        ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = '1', name, ''
        ds.SeriesNumber, ds.InstanceNumber = 1, k + 1
        ds.SeriesDescription = 'phantom chest CT (mmdet-covid)'
        ds.Manufacturer = 'mmdet-covid phantom'
        ds.PositionReferenceIndicator = ''
        ds.BodyPartExamined = 'CHEST'
        ds.PatientPosition = 'FFS'
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [x0, y0, k * slice_mm]
        ds.SliceLocation = k * slice_mm
        ds.PixelSpacing = [pixel_mm, pixel_mm]
        ds.SliceThickness = slice_mm
        ds.KVP, ds.RescaleType = 120, 'HU'
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, 'MONOCHROME2'
        ds.Rows, ds.Columns = rows, cols
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.WindowCenter, ds.WindowWidth = -600, 1500
        ds.PixelData = stored[k].tobytes()
        pydicom.dcmwrite(osp.join(folder, names[k]), ds, enforce_file_format=True)
    return names


def nifti_affine(shape: Tuple[int, int, int], pixel_mm: float, slice_mm: float) -> np.ndarray:
    """RAS affine of the series' geometry for an array indexed (column, row, slice)."""
    _, rows, cols = shape
    x0, y0 = -(cols / 2) * pixel_mm, -(rows / 2) * pixel_mm
    # LPS (x0 + c p, y0 + r p, k dz) -> RAS: x and y change sign
    return np.array([[-pixel_mm, 0, 0, -x0], [0, -pixel_mm, 0, -y0], [0, 0, slice_mm, 0],
                     [0, 0, 0, 1]], float)


def write_scan(out: str, name: str, cls: str, n_slices: int = 40, size: int = 512,
               seed: int = 0, scan_id: int = 0, pixel_mm: Optional[float] = None,
               slice_mm: float = 5.0) -> dict:
    """Render and write one scan (module docstring); return its truth."""
    import nibabel as nib

    pixel_mm = pixel_mm if pixel_mm is not None else FIELD_OF_VIEW_MM / size
    hu, mask, sides = render_scan(size, n_slices, cls, seed, scan_id)
    folder = osp.join(out, name)
    names = _dicom_series(hu, osp.join(folder, 'dicom'), name, seed, scan_id, pixel_mm,
                          slice_mm, phantom_rng(seed, STREAM, scan_id, 10 ** 6))
    affine = nifti_affine(hu.shape, pixel_mm, slice_mm)
    stored_hu = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)  # what the DICOM holds
    lobes = phantom_lobes(mask >= MASK_LUNG, sides)
    for data, fname in ((stored_hu, f'{name}.nii.gz'), (mask, 'truth_mask.nii.gz'),
                        (lobes, 'lobes.nii.gz')):
        img = nib.Nifti1Image(np.ascontiguousarray(data.transpose(2, 1, 0)), affine)
        img.header.set_xyzt_units('mm')
        nib.save(img, osp.join(folder, fname))
    voxel_ml = pixel_mm * pixel_mm * slice_mm / 1000.0
    lesion = mask >= MASK_GGO
    lung = mask >= MASK_LUNG
    counts = dict(
        lung=int(lung.sum()), right_lung=int((lung & (sides == 1)).sum()),
        left_lung=int((lung & (sides == 2)).sum()), lesion=int(lesion.sum()),
        ggo_drawn=int((mask == MASK_GGO).sum()),
        consolidation_drawn=int((mask == MASK_CONSOLIDATION).sum()),
        consolidation_by_hu=int((lesion & (stored_hu >= CONSOLIDATION_HU)).sum()))
    truth = dict(
        generator='tools/make_phantom_scan.py', name=name, cls=cls, seed=seed,
        scan_id=scan_id, shape_slices_rows_columns=list(hu.shape),
        spacing_mm_slice_row_column=[slice_mm, pixel_mm, pixel_mm], voxel_ml=voxel_ml,
        voxels=counts, ml={k: v * voxel_ml for k, v in counts.items()},
        lesion_percent_of_lung=100.0 * counts['lesion'] / max(counts['lung'], 1),
        consolidation_hu=CONSOLIDATION_HU,
        slice_files_in_order=names,
        slice_lesion_pixels=lesion.sum(axis=(1, 2)).tolist(),
        lobes={lobe: dict(lobe_voxels=int((lobes == value).sum()),
                          lesion_voxels=int((lesion & (lobes == value)).sum()))
               for lobe, value in LOBE_VALUES.items()})
    with open(osp.join(folder, 'truth.json'), 'w') as f:
        json.dump(truth, f, indent=1)
    return truth
