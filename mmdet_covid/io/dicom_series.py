"""Reading one DICOM CT series (pydicom) as a :class:`~.ct_volume.CTVolume`.

* Files: every file of the folder (recursively) that is not hidden and has no suffix of
  another format (images, NIfTI, text, ...) is tried as DICOM, with or without the Part-10
  preamble and whatever its name (``1.2.840....`` UID names, ``IM0001``, ``.dcm``);
  what is not a DICOM image of a series is counted and named, never dropped silently.
* Series: the files of one ``SeriesInstanceUID``; a folder with several is listed by
  :func:`list_dicom_series` and the axial CT series with most slices is read by default.
  A series whose ``Modality`` is not CT is refused (``allow_non_ct`` reads it), as is
  multi-frame (enhanced) CT.
* Headers, before any pixel is decoded: every slice must have ``ImagePositionPatient``,
  ``ImageOrientationPatient`` (one orientation for the series) and ``PixelSpacing``, one
  size, and the scan must fit :data:`~.ct_volume.MAX_VOXELS`. Copies of one
  ``SOPInstanceUID`` at one position are read once (counted); one UID at two positions,
  or two slices at one position, is an error.
* Order and spacing: slices are ordered by their position along the slice normal
  (``ImagePositionPatient`` projected on the cross product of the
  ``ImageOrientationPatient`` cosines), never by file name; the spacing is measured
  from the positions; uneven spacing is a warning, and each slice then counts for its
  own extent (:func:`~.ct_volume.slice_extents`).
* Pixels: decoded by :mod:`.dicom_pixels` (compressed syntaxes included) and rescaled to
  HU; a scan whose values do not look like a chest CT in HU is refused, naming the tags
  (:func:`~.ct_io.check_volume_hu`; ``allow_non_ct`` reads it with a warning).
"""
import os
import os.path as osp
import warnings
from collections import defaultdict
from typing import Dict, List, Optional, Tuple

import numpy as np

from .ct_io import (NIFTI_SUFFIXES, CTInputWarning, CTReadError, check_volume_hu,
                    replace_non_finite)
from .ct_volume import CTVolume, check_size, slice_extents
from .dicom_pixels import decode_pixels, rescale, tag_summary, transfer_syntax

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp')
# Files with these suffixes are never tried as DICOM (counted as other files).
OTHER_SUFFIXES = IMAGE_SUFFIXES + NIFTI_SUFFIXES + (
    '.json', '.txt', '.csv', '.tsv', '.md', '.html', '.htm', '.pdf', '.xml', '.zip', '.gz',
    '.npy', '.npz', '.py', '.log', '.jsonl', '.ini', '.yaml', '.yml')
ENHANCED_CT = '1.2.840.10008.5.1.4.1.1.2.1'

# A slice whose normal is within this of the patient axis (cosine) is axial.
AXIAL_COSINE = 0.9
# RAS world coordinates from DICOM's LPS: x and y change sign.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def folder_files(folder: str) -> Tuple[List[str], List[str], List[str]]:
    """The files of ``folder`` (recursively, hidden ones left out), sorted, in three
    kinds: ``(maybe_dicom, images, others)`` by suffix (:data:`IMAGE_SUFFIXES`,
    :data:`OTHER_SUFFIXES`; every other name may be DICOM)."""
    maybe, images, others = [], [], []
    for dirpath, dirnames, names in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
        for name in sorted(names):
            if name.startswith('.'):
                continue
            path = osp.join(dirpath, name)
            lower = name.lower()
            if lower.endswith(IMAGE_SUFFIXES):
                images.append(path)
            elif lower.endswith(OTHER_SUFFIXES):
                others.append(path)
            else:
                maybe.append(path)
    return maybe, images, others


def header_text(headers: list, key: str) -> Optional[str]:
    """The text of attribute ``key`` in a series' first header (stripped), or None where
    the header lacks it or holds only spaces (anonymised series often do)."""
    value = str(headers[0].get(key, '') or '').strip() if headers else ''
    return value or None


def _vector(ds, key: str, size: int) -> Optional[np.ndarray]:
    """A numeric multi-valued tag as a float array of ``size``, or None if absent or
    malformed."""
    value = ds.get(key)
    try:
        vec = np.asarray([float(v) for v in value], float)
    except (TypeError, ValueError):
        return None
    return vec if vec.shape == (size, ) and np.isfinite(vec).all() else None


def _normal(ds) -> Optional[np.ndarray]:
    iop = _vector(ds, 'ImageOrientationPatient', 6)
    return None if iop is None else np.cross(iop[:3], iop[3:])


def _frames(ds) -> int:
    try:
        return int(ds.get('NumberOfFrames') or 1)
    except (TypeError, ValueError):
        return 1


def list_dicom_series(folder: str, skipped: Optional[Dict[str, str]] = None) -> List[dict]:
    """The DICOM series of a folder, read from the headers only.

    Args:
        folder: searched recursively (:func:`folder_files`: images and files of other
            formats are not tried).
        skipped: if given, every file that is not a DICOM image of a series (tried
            and failed, or of another format) is added as ``{path: reason}``, so that
            the caller reports them.

    Returns:
        One dict per ``SeriesInstanceUID``: ``uid``, ``modality``, ``description``,
        ``files`` (paths), ``n_slices`` (files), ``frames`` (the most frames in one
        file), ``axial`` (slice normal along the patient's feet-head axis), ``headers``
        (the datasets, without pixel data), sorted with the default choice first: axial
        CT series, then most slices.
    """
    import pydicom

    groups: Dict[str, list] = defaultdict(list)
    maybe_dicom, images, others = folder_files(folder)
    if skipped is not None:
        for path in images + others:
            skipped[path] = (f'a file of another format ({osp.splitext(path)[1] or "?"}), '
                             'not tried as DICOM')
    for path in maybe_dicom:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
            uid = ds.get('SeriesInstanceUID')
            if not uid:
                raise ValueError('no SeriesInstanceUID')
            if 'SOPInstanceUID' not in ds:
                raise ValueError('no SOPInstanceUID')
        except Exception as exc:  # not DICOM, a DICOMDIR, or a truncated file
            if skipped is not None:
                skipped[path] = (f'not a DICOM image of a series ({exc.__class__.__name__}: '
                                 f'{" ".join(str(exc).split())[:120]})')
            continue
        groups[str(uid)].append((path, ds))
    series = []
    for uid, items in groups.items():
        ds = items[0][1]
        normal = _normal(ds)
        series.append(dict(
            uid=uid, modality=str(ds.get('Modality', '') or ''),
            description=str(ds.get('SeriesDescription', '') or ''),
            files=[p for p, _ in items], n_slices=len(items),
            frames=max(_frames(d) for _, d in items),
            axial=bool(normal is not None and abs(normal[2]) >= AXIAL_COSINE),
            headers=[d for _, d in items]))
    series.sort(key=lambda s: (not (s['modality'] == 'CT' and s['axial']), -s['n_slices'],
                               s['uid']))
    return series


def _choose(folder: str, series: List[dict], series_uid: Optional[str],
            notes: List[str]) -> dict:
    if series_uid is None:
        chosen = series[0]
        if len(series) > 1:
            others = '; '.join(f"{s['uid']} ({s['modality']}, {s['n_slices']} slices"
                               f"{', not axial' if not s['axial'] else ''})"
                               for s in series[1:])
            notes.append(f'{folder}: {len(series)} series; read {chosen["uid"]} (the axial '
                         f'CT series with most slices, {chosen["n_slices"]}); the others: '
                         f'{others}. Choose one with --series UID')
        return chosen
    match = [s for s in series if s['uid'] == series_uid]
    if not match:
        listed = ', '.join(f"{s['uid']} ({s['n_slices']} slices)" for s in series)
        raise CTReadError(f'{folder}: no series with SeriesInstanceUID {series_uid}; '
                          f'the folder holds {listed}')
    return match[0]


def _check_headers(folder: str, chosen: dict, allow_non_ct: bool,
                   notes: List[str]) -> List[Tuple[str, object, np.ndarray]]:
    """Every slice's header checked (module docstring); returns ``(path, header,
    ImagePositionPatient)`` per distinct slice, copies of one SOPInstanceUID dropped."""
    uid = chosen['uid']
    if chosen['modality'] != 'CT':
        message = (f'{folder}: series {uid} has Modality {chosen["modality"] or "(none)"}; '
                   'expected CT, whose values are HU')
        if not allow_non_ct:
            raise CTReadError(message + ' (--force reads it anyway)')
        notes.append(message + ': read as CT (allow_non_ct)')
    items = list(zip(chosen['files'], chosen['headers']))
    for path, ds in items:
        if _frames(ds) > 1 or str(ds.get('SOPClassUID', '')) == ENHANCED_CT:
            raise CTReadError(
                f'{path}: multi-frame (enhanced) CT, {_frames(ds)} frames in one file; '
                'expected one slice per file (classic CT Image Storage). Convert the series '
                'to NIfTI (e.g. dcm2niix -z y -o OUT_DIR SERIES_DIR) and analyse the .nii.gz')
    ref_path, ref = items[0]
    ref_iop = _vector(ref, 'ImageOrientationPatient', 6)
    kept, by_uid = [], {}
    for path, ds in items:
        for key, tag, size in (('ImageOrientationPatient', '0020,0037', 6),
                               ('ImagePositionPatient', '0020,0032', 3),
                               ('PixelSpacing', '0028,0030', 2)):
            if _vector(ds, key, size) is None:
                raise CTReadError(f'{path}: no valid {key} ({tag}); expected {size} numbers '
                                  'in every slice of a series, to place the slice')
        if (_vector(ds, 'PixelSpacing', 2) <= 0).any():
            raise CTReadError(f'{path}: PixelSpacing (0028,0030) {list(ds.PixelSpacing)}; '
                              'expected two positive distances in mm')
        if not np.allclose(_vector(ds, 'ImageOrientationPatient', 6), ref_iop, atol=1e-4):
            raise CTReadError(f'{path}: ImageOrientationPatient differs from {ref_path}; '
                              'expected one orientation for the whole series')
        if (ds.get('Rows'), ds.get('Columns')) != (ref.get('Rows'), ref.get('Columns')):
            raise CTReadError(f'{path}: {ds.get("Columns")}x{ds.get("Rows")} pixels, '
                              f'{ref_path} has {ref.get("Columns")}x{ref.get("Rows")}; expected '
                              'one size for the series')
        ipp = _vector(ds, 'ImagePositionPatient', 3)
        sop = str(ds.SOPInstanceUID)
        if sop in by_uid:
            first_path, first_ipp = by_uid[sop]
            if not np.allclose(ipp, first_ipp, atol=1e-3):
                raise CTReadError(f'{path} and {first_path} share the SOPInstanceUID {sop} at '
                                  'two positions; expected one UID per image')
            continue  # the same image twice (a copy): read once, counted below
        by_uid[sop] = (path, ipp)
        kept.append((path, ds, ipp))
    if len(kept) < len(items):
        notes.append(f'{folder}: {len(items) - len(kept)} file(s) repeat an image already '
                     'read (same SOPInstanceUID and position) and were read once')
    check_size(folder, len(kept), int(ref.get('Rows') or 0), int(ref.get('Columns') or 0),
               where=f'series {uid}')
    return kept


def read_dicom_series(folder: str, series_uid: Optional[str] = None,
                      allow_non_ct: bool = False,
                      listed: Optional[Tuple[List[dict], Dict[str, str]]] = None) -> CTVolume:
    """Read one DICOM series of ``folder`` as a :class:`CTVolume` (module docstring).

    Args:
        folder: a folder holding the series' files (any names, any order, subfolders).
        series_uid: the ``SeriesInstanceUID`` to read; default the axial CT series with
            most slices (the choice and the other series are said in ``series`` and
            ``warnings``).
        allow_non_ct: read a series whose Modality is not CT, or whose values do not
            look like HU (with a warning).
        listed: ``(series, skipped)`` of :func:`list_dicom_series` when the caller has
            listed the folder already.
    """
    import pydicom

    if listed is None:
        skipped: Dict[str, str] = {}
        series = list_dicom_series(folder, skipped)
    else:
        series, skipped = listed
    if not series:
        raise CTReadError(f'{folder}: no DICOM series found ({len(skipped)} other files); '
                          'expected a folder of CT slices with a SeriesInstanceUID')
    notes: List[str] = []
    chosen = _choose(folder, series, series_uid, notes)
    if skipped:
        first = next(iter(skipped.items()))
        images = sum(p.lower().endswith(IMAGE_SUFFIXES) for p in skipped)
        notes.append(f'{folder}: {len(skipped)} file(s) that are not DICOM images of a series '
                     f'were not read ({images} slice image(s) among them), e.g. {first[0]}: '
                     f'{first[1]}')
    if not chosen['axial']:
        raise CTReadError(f'{folder}: series {chosen["uid"]} is not axial (its slice normal '
                          'is not along the feet-head axis, or it has no '
                          'ImageOrientationPatient); expected axial CT slices')
    kept = _check_headers(folder, chosen, allow_non_ct, notes)
    ref = kept[0][1]
    iop = _vector(ref, 'ImageOrientationPatient', 6)
    normal = np.cross(iop[:3], iop[3:])
    along = np.asarray([float(np.dot(ipp, normal)) for _, _, ipp in kept])
    order = np.argsort(along, kind='stable')
    if normal[2] < 0:  # feet to head: index k increases towards the head (+z in LPS)
        order = order[::-1]
    kept = [kept[i] for i in order]
    along = along[order]
    gaps = np.abs(np.diff(along))
    if len(gaps) and gaps.min() < 1e-3:
        i = int(np.argmin(gaps))
        raise CTReadError(f'{folder}: {kept[i][0]} and {kept[i + 1][0]} lie at the same '
                          f'position ({along[i]:.3f} mm along the slice normal); expected one '
                          'slice per position (two acquisitions in one series?)')
    offsets = np.abs(along - along[0])  # along the slice normal, feet to head
    if len(gaps):
        median = float(np.median(gaps))
        thickness = slice_extents(offsets)
        uneven = np.abs(gaps - median) > 0.1 * median
        # evenly spaced: the mean gap, so that the affine reaches the last slice exactly
        # (positions rounded in the headers make gaps of 0.62 and 0.63 mm)
        dz = median if uneven.any() else float(offsets[-1] / (len(offsets) - 1))
        if uneven.any():
            notes.append(f'{folder}: uneven slice spacing: {int(uneven.sum())} of {len(gaps)} '
                         f'gaps differ from the median {dz:.3f} mm by more than 10% (missing '
                         'slices?); each slice counts for its own extent in the volumes, '
                         'lesions.nii.gz is written on an even grid at the median spacing')
    else:
        dz = float(ref.get('SliceThickness', 0) or 0)
        if not dz > 0:
            raise CTReadError(f'{folder}: one slice without SliceThickness (0018,0050); '
                              'expected a thickness to measure volumes')
        thickness = np.array([dz])
        notes.append(f'{folder}: one slice; its thickness ({dz:g} mm) is used as the spacing')

    rows, cols = int(ref.Rows), int(ref.Columns)
    hu = np.empty((len(kept), rows, cols), np.float32)
    headers = []
    for k, (path, _, _) in enumerate(kept):
        try:
            ds = pydicom.dcmread(path, force=True)
        except Exception as exc:
            raise CTReadError(f'{path}: cannot read the DICOM file ({exc})') from None
        pixels = decode_pixels(ds, path)
        if pixels.shape != (rows, cols):
            raise CTReadError(f'{path}: decoded {pixels.shape[1]}x{pixels.shape[0]} pixels, '
                              f'its header says {cols}x{rows}')
        hu[k] = rescale(ds, pixels, path, notes if k == 0 else None)
        del ds.PixelData  # the headers are kept (DICOM-SEG), the pixels are in hu
        headers.append(ds)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', CTInputWarning)
        replace_non_finite(hu, folder)
    notes.extend(str(w.message) for w in caught)
    implausible = check_volume_hu(hu, folder, tag_summary(ref))
    if implausible:
        if not allow_non_ct:
            raise CTReadError(implausible + '. --force reads it anyway')
        notes.append(implausible + ': read anyway (allow_non_ct)')

    row_spacing, col_spacing = (float(v) for v in _vector(ref, 'PixelSpacing', 2))
    row_cos, col_cos = iop[:3], iop[3:]
    first, last = kept[0][2], kept[-1][2]
    span = float(abs(along[-1] - along[0]))
    # the mean step from the first slice to the last, scaled to the median gap: the
    # slice direction of a tilted gantry is kept
    step = (last - first) * (dz / span) if span > 0 else normal * dz
    tilt = float(np.degrees(np.arccos(min(1.0, abs(np.dot(step, normal))
                                          / np.linalg.norm(step)))))
    if tilt > 1.0:
        notes.append(f'{folder}: the slices are sheared by {tilt:.1f} degrees (gantry tilt); '
                     'volumes are exact, lesions.nii.gz carries the sheared affine')
    lps = np.eye(4)
    # column index -> along the row cosine; row index -> along the column cosine
    lps[:3, 0] = row_cos * col_spacing
    lps[:3, 1] = col_cos * row_spacing
    lps[:3, 2] = step
    lps[:3, 3] = first
    # Display orientation: columns towards the patient's left (+x), rows towards
    # posterior (+y). A series stored the other way round (e.g. a prone patient) is
    # flipped, the affine with it; ``series['flips']`` says how, to go back.
    flip_rows, flip_cols = bool(col_cos[1] < 0), bool(row_cos[0] < 0)
    if flip_cols:
        hu = hu[:, :, ::-1]
        lps[:3, 3] += lps[:3, 0] * (cols - 1)
        lps[:3, 0] *= -1
    if flip_rows:
        hu = hu[:, ::-1, :]
        lps[:3, 3] += lps[:3, 1] * (rows - 1)
        lps[:3, 1] *= -1
    info = dict(uid=chosen['uid'], description=chosen['description'],
                modality=chosen['modality'], n_slices=len(kept),
                study_uid=str(ref.get('StudyInstanceUID', '')),
                transfer_syntax=transfer_syntax(headers[0])[1],
                other_series=[dict(uid=s['uid'], modality=s['modality'],
                                   n_slices=s['n_slices'], axial=s['axial'])
                              for s in series if s['uid'] != chosen['uid']],
                files_not_read=len(skipped), flips=dict(rows=flip_rows, columns=flip_cols))
    for note in notes:
        warnings.warn(CTInputWarning(note), stacklevel=2)
    slice_z = np.asarray([float(ipp[2]) for _, _, ipp in kept])  # LPS z = RAS z
    return CTVolume(hu=np.ascontiguousarray(hu), spacing=(dz, row_spacing, col_spacing),
                    affine=LPS_TO_RAS @ lps, source=folder, kind='dicom',
                    slice_names=[osp.relpath(p, folder) for p, _, _ in kept],
                    series=dict(info, datasets=headers), warnings=notes,
                    slice_thickness=thickness, slice_z_mm=slice_z, slice_positions_mm=offsets)
