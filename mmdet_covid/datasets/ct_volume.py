"""Reading a whole CT scan: a DICOM series, a NIfTI volume or a folder of slice images.

Every reader returns a :class:`CTVolume`: the scan in Hounsfield units as axial slices in
display orientation (``hu[k]`` a slice, rows anterior to posterior, columns from the
patient's right to left, ``k`` feet to head), its voxel spacing, the affine that maps
voxel indices to the scanner's world coordinates, and what it came from.

* DICOM series (read with pydicom): the files of one ``SeriesInstanceUID``; slices are
  ordered by their position along the slice normal (``ImagePositionPatient`` projected on
  the cross product of the ``ImageOrientationPatient`` cosines), never by file name; HU =
  stored value x ``RescaleSlope`` + ``RescaleIntercept``; the slice spacing is measured
  from the positions (uneven spacing is a warning, a repeated position an error). A folder
  with several series is listed by :func:`list_dicom_series`; the default choice is the
  axial CT series with most slices. A series whose ``Modality`` is not CT is refused.
* NIfTI: nibabel, as :func:`~mmdet_covid.datasets.ct_io.load_nifti_hu` (reoriented to RAS,
  then to display orientation); the original header is kept so that label volumes can be
  written back on the input's own voxel grid (:meth:`CTVolume.to_nifti`).
* A folder of slice images (PNG/JPEG, 16-bit PNG; DICOM files among them are read one by
  one): sorted by name in natural order (``2.png`` before ``10.png``), no physical units.
  8-bit images are already in a display window: their HU are approximated by inverting the
  lung window (exact for values inside the window, clipped outside it). A folder without
  PNG/JPEG files but with DICOM files is read as a DICOM series.
"""
import os
import os.path as osp
import re
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from .ct_io import (DEEPLESION_HU_OFFSET, DICOM_SUFFIXES, LUNG_WINDOW_LEVEL, LUNG_WINDOW_WIDTH,
                    CTInputWarning, CTReadError, check_hu_plausible, is_nifti, load_nifti_hu,
                    replace_non_finite)

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp')

# A slice whose normal is within this of the patient axis (cosine) is axial.
AXIAL_COSINE = 0.9
# Relative deviation of one slice gap from the median gap that counts as uneven.
UNEVEN_SPACING = 0.1

# RAS world coordinates from DICOM's LPS: x and y change sign.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass
class CTVolume:
    """One CT scan ready for slice-by-slice analysis.

    Attributes:
        hu: (D, H, W) float32 in HU, axial slices in display orientation, feet to head
            (approximate HU for 8-bit image folders: ``hu_exact`` is False).
        spacing: (slice, row, column) spacing in mm, or None without physical units.
        affine: 4x4 map from display indices ``(column, row, slice, 1)`` to RAS mm
            (NIfTI's convention), or None without physical units.
        source: the input path; ``kind``: 'dicom', 'nifti' or 'images'.
        slice_names: one name per slice, traceable to the input (file or volume index).
        hu_exact: whether ``hu`` holds the stored HU (False: inverted from a window).
        series: for DICOM, the chosen series' description (UID, description, counts).
        warnings: what looked wrong in the input.
    """
    hu: np.ndarray
    spacing: Optional[Tuple[float, float, float]]
    affine: Optional[np.ndarray]
    source: str
    kind: str
    slice_names: List[str]
    hu_exact: bool = True
    series: Optional[dict] = None
    warnings: List[str] = field(default_factory=list)
    nifti_header: object = None  # the input's nibabel image (NIfTI input only)

    @property
    def voxel_ml(self) -> Optional[float]:
        """Volume of one voxel in mL (mm^3 / 1000), or None without physical units."""
        if self.spacing is None:
            return None
        return float(np.prod(self.spacing)) / 1000.0

    def geometry(self) -> dict:
        """Shape, spacing and affine as plain lists (for a JSON report)."""
        return dict(
            shape_slices_rows_columns=list(self.hu.shape),
            spacing_mm_slice_row_column=None if self.spacing is None else
            [round(float(s), 6) for s in self.spacing],
            affine_ras=None if self.affine is None else np.round(self.affine, 6).tolist(),
            physical_units=self.spacing is not None)

    def to_nifti(self, labels: np.ndarray):
        """A label volume of this scan, ``labels`` (D, H, W) in display orientation, as a
        nibabel image aligned with the input: for NIfTI input on the input's own voxel
        grid and header; otherwise on the display grid with :attr:`affine` (identity,
        1 mm voxels, when the scan has no physical units)."""
        import nibabel as nib

        data = np.ascontiguousarray(labels.transpose(2, 1, 0))  # (column, row, slice)
        if self.kind == 'nifti' and self.nifti_header is not None:
            src = self.nifti_header
            canonical = nib.as_closest_canonical(src)
            # display -> canonical RAS array: undo the flips of load_nifti_hu
            canon = data[::-1, ::-1, :]
            if len(src.shape) == 2:
                canon = canon[..., 0]
            img = nib.Nifti1Image(np.ascontiguousarray(canon), canonical.affine)
            start = nib.orientations.io_orientation(canonical.affine)
            end = nib.orientations.io_orientation(src.affine)
            img = img.as_reoriented(nib.orientations.ornt_transform(start, end))
            out = nib.Nifti1Image(np.asanyarray(img.dataobj).astype(labels.dtype), src.affine)
            out.header.set_qform(src.affine, code=int(src.header['qform_code']) or 1)
            out.header.set_sform(src.affine, code=int(src.header['sform_code']) or 1)
            return out
        affine = self.affine if self.affine is not None else np.eye(4)
        out = nib.Nifti1Image(data, affine)
        out.header.set_xyzt_units('mm')
        return out


# ---------------------------------------------------------------------- DICOM series
def _dicom_files(folder: str) -> List[str]:
    """Every file of ``folder`` (recursively) that may be DICOM: a DICOM suffix, no
    suffix at all, or a Part-10 preamble."""
    files = []
    for dirpath, dirnames, names in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
        for name in sorted(names):
            if name.startswith('.'):
                continue
            path = osp.join(dirpath, name)
            if name.lower().endswith(DICOM_SUFFIXES) or '.' not in name:
                files.append(path)
            else:
                with open(path, 'rb') as f:
                    if f.read(132)[128:132] == b'DICM':
                        files.append(path)
    return files


def _normal(ds) -> Optional[np.ndarray]:
    iop = ds.get('ImageOrientationPatient')
    if iop is None or len(iop) != 6:
        return None
    row, col = np.asarray(iop[:3], float), np.asarray(iop[3:], float)
    return np.cross(row, col)


def list_dicom_series(folder: str, skipped: Optional[Dict[str, str]] = None) -> List[dict]:
    """The DICOM series of a folder, read from the headers only.

    Args:
        folder: searched recursively.
        skipped: if given, files that are not readable DICOM are added as
            ``{path: reason}`` (they are never silently ignored: the caller reports them).

    Returns:
        One dict per ``SeriesInstanceUID``: ``uid``, ``modality``, ``description``,
        ``files`` (paths), ``n_slices``, ``axial`` (slice normal along the patient's
        feet-head axis), sorted with the default choice first: axial CT series, then
        most slices.
    """
    import pydicom

    groups: Dict[str, list] = defaultdict(list)
    for path in _dicom_files(folder):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            uid = str(ds.SeriesInstanceUID)
        except Exception as exc:  # not DICOM, or no series UID
            if skipped is not None:
                skipped[path] = f'not a DICOM image of a series ({exc.__class__.__name__})'
            continue
        groups[uid].append((path, ds))
    series = []
    for uid, items in groups.items():
        ds = items[0][1]
        normal = _normal(ds)
        series.append(dict(
            uid=uid, modality=str(ds.get('Modality', '') or ''),
            description=str(ds.get('SeriesDescription', '') or ''),
            files=[p for p, _ in items], n_slices=len(items),
            axial=bool(normal is not None and abs(normal[2]) >= AXIAL_COSINE)))
    series.sort(key=lambda s: (not (s['modality'] == 'CT' and s['axial']), -s['n_slices'],
                               s['uid']))
    return series


def read_dicom_series(folder: str, series_uid: Optional[str] = None,
                      allow_non_ct: bool = False) -> CTVolume:
    """Read one DICOM series of ``folder`` as a :class:`CTVolume`.

    Args:
        folder: a folder holding the series' files (any names, any order, subfolders).
        series_uid: the ``SeriesInstanceUID`` to read; default the axial CT series with
            most slices (the choice and the other series are said in ``series`` and
            ``warnings``).
        allow_non_ct: read a series whose Modality is not CT (with a warning).
    """
    import pydicom

    skipped: Dict[str, str] = {}
    series = list_dicom_series(folder, skipped)
    if not series:
        raise CTReadError(f'{folder}: no DICOM series found ({len(skipped)} other files); '
                          'expected a folder of CT slices with a SeriesInstanceUID')
    notes = []
    if series_uid is None:
        chosen = series[0]
        if len(series) > 1:
            others = '; '.join(f"{s['uid']} ({s['modality']}, {s['n_slices']} slices"
                               f"{', not axial' if not s['axial'] else ''})"
                               for s in series[1:])
            notes.append(f'{folder}: {len(series)} series; read {chosen["uid"]} (the axial '
                         f'CT series with most slices, {chosen["n_slices"]}); the others: '
                         f'{others}. Choose one with --series UID')
    else:
        match = [s for s in series if s['uid'] == series_uid]
        if not match:
            listed = ', '.join(f"{s['uid']} ({s['n_slices']} slices)" for s in series)
            raise CTReadError(f'{folder}: no series with SeriesInstanceUID {series_uid}; '
                              f'the folder holds {listed}')
        chosen = match[0]
    if skipped:
        notes.append(f'{folder}: {len(skipped)} file(s) that are not DICOM images of a series '
                     f'were not read, e.g. {next(iter(skipped))}')
    if chosen['modality'] != 'CT':
        message = (f'{folder}: series {chosen["uid"]} has Modality '
                   f'{chosen["modality"] or "(none)"}; expected CT, whose values are HU')
        if not allow_non_ct:
            raise CTReadError(message + ' (--force reads it anyway)')
        notes.append(message + ': read as CT (allow_non_ct)')
    if not chosen['axial']:
        raise CTReadError(f'{folder}: series {chosen["uid"]} is not axial (its slice normal '
                          'is not along the feet-head axis); expected axial CT slices')

    datasets = []
    for path in chosen['files']:
        try:
            datasets.append((path, pydicom.dcmread(path)))
        except Exception as exc:
            raise CTReadError(f'{path}: cannot read the DICOM file ({exc})') from None
    ref = datasets[0][1]
    normal = _normal(ref)
    iop = np.asarray(ref.ImageOrientationPatient, float)
    positions = []
    for path, ds in datasets:
        ipp = ds.get('ImagePositionPatient')
        if ipp is None or len(ipp) != 3:
            raise CTReadError(f'{path}: no ImagePositionPatient; expected it in every slice '
                              'of a series, to order the slices')
        if not np.allclose(np.asarray(ds.ImageOrientationPatient, float), iop, atol=1e-4):
            raise CTReadError(f'{path}: ImageOrientationPatient differs from {datasets[0][0]}; '
                              'expected one orientation for the whole series')
        if (ds.Rows, ds.Columns) != (ref.Rows, ref.Columns):
            raise CTReadError(f'{path}: {ds.Rows}x{ds.Columns} pixels, {datasets[0][0]} has '
                              f'{ref.Rows}x{ref.Columns}; expected one size for the series')
        positions.append(float(np.dot(np.asarray(ipp, float), normal)))
    positions = np.asarray(positions)
    order = np.argsort(positions, kind='stable')
    # Feet to head: index k must increase towards the head (+z in LPS).
    if normal[2] < 0:
        order = order[::-1]
    datasets = [datasets[i] for i in order]
    z = np.asarray([float(ds.ImagePositionPatient[2]) for _, ds in datasets])
    gaps = np.abs(np.diff(positions[order]))
    if len(gaps) and gaps.min() < 1e-3:
        i = int(np.argmin(gaps))
        raise CTReadError(f'{folder}: {datasets[i][0]} and {datasets[i + 1][0]} lie at the '
                          f'same position ({z[i]:.3f} mm); expected one slice per position '
                          '(two acquisitions in one series?)')
    if len(gaps):
        dz = float(np.median(gaps))
        uneven = np.abs(gaps - dz) > UNEVEN_SPACING * dz
        if uneven.any():
            notes.append(f'{folder}: uneven slice spacing: {int(uneven.sum())} of {len(gaps)} '
                         f'gaps differ from the median {dz:.3f} mm by more than '
                         f'{UNEVEN_SPACING:.0%} (missing slices?); volumes use the median')
    else:
        dz = float(ref.get('SliceThickness', 0) or 0) or 1.0
        notes.append(f'{folder}: one slice; its thickness ({dz:g} mm) is used as the spacing')

    hu = np.empty((len(datasets), ref.Rows, ref.Columns), np.float32)
    for k, (path, ds) in enumerate(datasets):
        try:
            pixels = ds.pixel_array
        except Exception as exc:
            raise CTReadError(f'{path}: cannot decode the pixel data ({exc})') from None
        slope = float(ds.get('RescaleSlope', 1) or 1)
        intercept = float(ds.get('RescaleIntercept', 0) or 0)
        hu[k] = pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', CTInputWarning)
        replace_non_finite(hu, folder)
    notes.extend(str(w.message) for w in caught)

    row_spacing, col_spacing = (float(v) for v in ref.PixelSpacing)
    row_cos, col_cos = iop[:3], iop[3:]
    step = (np.asarray(datasets[-1][1].ImagePositionPatient, float)
            - np.asarray(datasets[0][1].ImagePositionPatient, float)) / max(len(datasets) - 1, 1)
    if len(datasets) == 1:
        step = normal * dz
    lps = np.eye(4)
    # column index -> along the row cosine; row index -> along the column cosine
    lps[:3, 0] = row_cos * col_spacing
    lps[:3, 1] = col_cos * row_spacing
    lps[:3, 2] = step
    lps[:3, 3] = np.asarray(datasets[0][1].ImagePositionPatient, float)
    # Display orientation: columns towards the patient's left (+x), rows towards
    # posterior (+y). A series stored the other way round (e.g. a prone patient) is
    # flipped, the affine with it; ``series['flips']`` says how, to go back.
    flip_rows, flip_cols = bool(col_cos[1] < 0), bool(row_cos[0] < 0)
    if flip_cols:
        hu = hu[:, :, ::-1]
        lps[:3, 3] += lps[:3, 0] * (hu.shape[2] - 1)
        lps[:3, 0] *= -1
    if flip_rows:
        hu = hu[:, ::-1, :]
        lps[:3, 3] += lps[:3, 1] * (hu.shape[1] - 1)
        lps[:3, 1] *= -1
    hu = np.ascontiguousarray(hu)
    info = dict(uid=chosen['uid'], description=chosen['description'],
                modality=chosen['modality'], n_slices=len(datasets),
                study_uid=str(ref.get('StudyInstanceUID', '')),
                other_series=[dict(uid=s['uid'], modality=s['modality'],
                                   n_slices=s['n_slices'], axial=s['axial'])
                              for s in series if s['uid'] != chosen['uid']],
                files_not_read=len(skipped), flips=dict(rows=flip_rows, columns=flip_cols))
    for note in notes:
        warnings.warn(CTInputWarning(note), stacklevel=2)
    return CTVolume(hu=hu, spacing=(dz, row_spacing, col_spacing), affine=LPS_TO_RAS @ lps,
                    source=folder, kind='dicom',
                    slice_names=[osp.relpath(p, folder) for p, _ in datasets],
                    series=dict(info, datasets=[ds for _, ds in datasets]), warnings=notes)


# ---------------------------------------------------------------------- NIfTI
def read_nifti_volume(path: str) -> CTVolume:
    """Read a NIfTI CT volume (HU) as a :class:`CTVolume` (spacing from its affine)."""
    import nibabel as nib

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', CTInputWarning)
        hu = load_nifti_hu(path)
    notes = [str(w.message) for w in caught]
    for note in notes:
        warnings.warn(CTInputWarning(note), stacklevel=2)
    src = nib.load(path)
    canonical = nib.as_closest_canonical(src)
    zooms = [float(v) for v in canonical.header.get_zooms()[:3]]
    zooms += [1.0] * (3 - len(zooms))
    # display (column, row, slice) = canonical (x flipped, y flipped, z)
    nx, ny = canonical.shape[0], canonical.shape[1]
    flip = np.array([[-1, 0, 0, nx - 1], [0, -1, 0, ny - 1], [0, 0, 1, 0], [0, 0, 0, 1]],
                    float)
    affine = canonical.affine @ flip
    return CTVolume(hu=hu, spacing=(zooms[2], zooms[1], zooms[0]), affine=affine,
                    source=path, kind='nifti',
                    slice_names=[f'{osp.basename(path)}#{k}' for k in range(hu.shape[0])],
                    warnings=notes, nifti_header=src)


# ---------------------------------------------------------------------- image folder
def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r'(\d+)', name)]


def read_image_folder(folder: str, level: float = LUNG_WINDOW_LEVEL,
                      width: float = LUNG_WINDOW_WIDTH,
                      hu_offset_16bit: float = DEEPLESION_HU_OFFSET) -> CTVolume:
    """Read a folder of slice images (one slice each) as a :class:`CTVolume` without
    physical units, slices in natural name order.

    8-bit images are taken as shown in the window (``level``, ``width``) and mapped back
    to HU (approximate: values outside the window were clipped when the image was made);
    16-bit PNGs hold HU + ``hu_offset_16bit``; DICOM files are rescaled to HU.
    """
    from .ct_io import dicom_to_hu

    names = sorted((n for n in os.listdir(folder) if not n.startswith('.') and
                    n.lower().endswith(IMAGE_SUFFIXES + DICOM_SUFFIXES)), key=_natural_key)
    if not names:
        raise CTReadError(f'{folder}: no slice images (expected {", ".join(IMAGE_SUFFIXES)} '
                          'or DICOM files)')
    slices, exact = [], []
    for name in names:
        path = osp.join(folder, name)
        if name.lower().endswith(DICOM_SUFFIXES):
            slices.append(dicom_to_hu(path))
            exact.append(True)
            continue
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if img is None:
            raise CTReadError(f'{path}: cannot decode the image; expected a PNG/JPEG slice')
        if img.ndim == 3:
            img = img[..., 0]
        if img.dtype == np.uint16:
            slices.append(img.astype(np.float32) - np.float32(hu_offset_16bit))
            check_hu_plausible(slices[-1], path, hu_offset_16bit)  # as LoadCTSlice does
            exact.append(True)
        elif img.dtype == np.uint8:
            slices.append(img.astype(np.float32) * np.float32(width / 255.0)
                          + np.float32(level - width / 2))
            exact.append(False)
        else:
            raise CTReadError(f'{path}: pixel type {img.dtype}; expected 8 or 16 bits')
        if slices[-1].shape != slices[0].shape:
            raise CTReadError(f'{path}: {slices[-1].shape[1]}x{slices[-1].shape[0]} pixels, '
                              f'{names[0]} has {slices[0].shape[1]}x{slices[0].shape[0]}; '
                              'expected one size for the whole scan')
    if len(set(exact)) > 1:
        raise CTReadError(f'{folder}: mixes 8-bit (windowed) and HU slices; expected one kind')
    notes = []
    if not exact[0]:
        notes.append(f'{folder}: 8-bit images: HU approximated from the lung window (level '
                     f'{level:g}, width {width:g}); no physical units (areas in pixels)')
    for note in notes:
        warnings.warn(CTInputWarning(note), stacklevel=2)
    return CTVolume(hu=np.stack(slices), spacing=None, affine=None, source=folder,
                    kind='images', slice_names=names, hu_exact=exact[0], warnings=notes)


def read_ct_volume(source: str, series_uid: Optional[str] = None,
                   allow_non_ct: bool = False) -> CTVolume:
    """Read a scan: a NIfTI file, a DICOM series folder, or a folder of slice images.

    A folder is read as a DICOM series when it holds DICOM files with a
    ``SeriesInstanceUID`` and no PNG/JPEG slices; otherwise as a folder of images.
    """
    if not osp.exists(source):
        raise CTReadError(f'{source}: does not exist; expected a DICOM series folder, a '
                          'NIfTI volume or a folder of slice images')
    if osp.isfile(source):
        if is_nifti(source):
            return read_nifti_volume(source)
        raise CTReadError(f'{source}: a single file; expected a NIfTI volume (.nii, .nii.gz) '
                          'or a folder (DICOM series, slice images)')
    has_images = any(n.lower().endswith(IMAGE_SUFFIXES) for n in os.listdir(source))
    if not has_images and _dicom_files(source):
        return read_dicom_series(source, series_uid, allow_non_ct)
    if series_uid is not None:
        raise CTReadError(f'{source}: --series {series_uid} given, but the folder holds slice '
                          'images, not a DICOM series')
    return read_image_folder(source)
