"""Reading chest-CT slices from the formats they are published in.

Every reader returns the same thing: an (H, W, 3) uint8 image in BGR channel order
(mmcv's convention; grey values are replicated), so that an 8-bit PNG of COVIDx-CT, a
16-bit PNG export, a DICOM file and a NIfTI volume feed the same pipeline.

* 8-bit PNG / JPEG, grey or colour: used as stored (they are already windowed).
* 16-bit PNG: stored value = HU + ``hu_offset_16bit`` (DeepLesion's convention,
  offset 32768), then the lung window.
* DICOM: ``RescaleSlope`` and ``RescaleIntercept`` give Hounsfield units, then the
  lung window.
* NIfTI (``.nii``, ``.nii.gz``): a volume in HU; :func:`iter_nifti_slices` yields its
  axial slices in radiological orientation (patient's right on the image left,
  anterior at the top), and :class:`~mmdet_covid.datasets.transforms.LoadCTSlice`
  reads one slice given ``slice_index``. A 2-D NIfTI image is one axial slice.

What looks wrong is said, naming the file (:class:`CTInputWarning`, or
:class:`CTReadError` where nothing sensible can be read):

* a DICOM whose ``Modality`` is not ``CT`` is refused (``allow_non_ct=True`` reads it,
  with a warning): windowing an MR or PET image in HU would show nonsense;
* NaN or infinite values in HU data are counted and shown as air (-1024 HU);
* a 16-bit PNG whose values, less the configured offset, do not look like the HU of a
  chest slice (:func:`check_hu_plausible`) is read with a warning that names the offset.
"""
import io
import warnings
from typing import Iterator, List, Optional, Tuple, Union

import cv2
import numpy as np

from .dicom_pixels import decode_pixels, rescale
from .hounsfield import AIR_HU, CTInputWarning, CTReadError  # noqa: F401  (re-exported)

LUNG_WINDOW_LEVEL = -600.0
LUNG_WINDOW_WIDTH = 1500.0
DEEPLESION_HU_OFFSET = 32768

DICOM_SUFFIXES = ('.dcm', '.dicom')
NIFTI_SUFFIXES = ('.nii', '.nii.gz')


def replace_non_finite(hu: np.ndarray, name: str) -> np.ndarray:
    """Count NaN / infinite values of an HU array, warn naming ``name``, set them to air.

    Args:
        hu: (H, W) or (D, H, W) float array in HU (changed in place).
        name: the file, for the warning.

    Returns:
        ``hu``.
    """
    bad = ~np.isfinite(hu)
    n = int(bad.sum())
    if n:
        where = ''
        if hu.ndim == 3:
            slices = np.flatnonzero(bad.any(axis=(1, 2)))
            where = (f' in {len(slices)} of {hu.shape[0]} slices ({slices[0]}-{slices[-1]})')
        warnings.warn(CTInputWarning(
            f'{name}: {n} NaN or infinite voxel value(s){where}; shown as air '
            f'({AIR_HU:g} HU)'), stacklevel=2)
        hu[bad] = AIR_HU
    return hu


def check_hu_plausible(hu: np.ndarray, name: str, offset: float) -> bool:
    """Whether the HU of a 16-bit PNG look like a chest slice; warn naming the file if not.

    A chest slice has air (around -1000 HU: outside the body and in the lungs) and soft
    tissue (0-100 HU). Implausible: the 99th percentile below -500 HU (no tissue), the
    1st percentile above -200 HU (no air), or percentiles outside the scanner's range
    [-3100, 4000] HU. That is what a wrong offset gives: an export storing HU + 1024 read
    with DeepLesion's 32768 puts every pixel near -31000 HU.

    Args:
        hu: (H, W) array, stored value minus ``offset``.
        name: the file, for the warning.
        offset: the offset subtracted, for the warning.
    """
    low, high = (float(v) for v in np.percentile(hu, (1, 99)))
    if -3100 <= low <= -200 and -500 <= high <= 4000:
        return True
    warnings.warn(CTInputWarning(
        f'{name}: 16-bit values minus the offset {offset:g} give {low:.0f} to {high:.0f} HU '
        '(1st-99th percentile); expected air (about -1000) and soft tissue (0-100) in a '
        'chest slice. Is the offset right? Set it with LoadCTSlice(hu_offset_16bit=...) '
        'or tools/infer.py --hu-offset (1024 for exports storing HU + 1024)'), stacklevel=2)
    return False


# What every chest CT holds: air (outside the body, in the lungs) and soft tissue.
AIR_BELOW_HU = -850.0
SOFT_TISSUE_HU = (-200.0, 200.0)
MIN_SHARE = 0.02  # of the voxels, for each of the two
HU_RANGE = (-3100.0, 4100.0)  # 0.1th / 99.9th percentiles beyond these: not HU


def check_volume_hu(hu: np.ndarray, name: str, tags: str = '') -> Optional[str]:
    """Whether the values of a whole scan look like a chest CT in Hounsfield units.

    A chest CT holds air (room air, lungs: below :data:`AIR_BELOW_HU`) and soft tissue
    (:data:`SOFT_TISSUE_HU`), each at least :data:`MIN_SHARE` of the voxels, and its
    0.1th-99.9th percentiles lie in :data:`HU_RANGE`. What fails: a missing or wrong
    ``RescaleIntercept`` (unsigned values 0-4095 have no air), a slope of the wrong
    scale, MR values tagged CT, an 8-bit image, a label volume given as CT.

    Args:
        hu: (D, H, W) values read as HU (every other voxel of each axis is looked at).
        name: the input, for the message.
        tags: how the values were made (e.g. ``RescaleSlope 1, RescaleIntercept
            absent``), for the message.

    Returns:
        None when plausible, else a message naming ``name``, the figures and ``tags``.
    """
    sample = np.asarray(hu[::2, ::2, ::2] if hu.ndim == 3 else hu[::2, ::2])
    if sample.size == 0:
        return None
    air = float((sample < AIR_BELOW_HU).mean())
    soft = float(((sample >= SOFT_TISSUE_HU[0]) & (sample <= SOFT_TISSUE_HU[1])).mean())
    low, high = (float(v) for v in np.percentile(sample, (0.1, 99.9)))
    if air >= MIN_SHARE and soft >= MIN_SHARE and low >= HU_RANGE[0] and high <= HU_RANGE[1]:
        return None
    return (f'{name}: the values do not look like a chest CT in HU: {low:.0f} to {high:.0f} '
            f'(0.1th-99.9th percentile), {air:.1%} below {AIR_BELOW_HU:g} HU (air), '
            f'{soft:.1%} within {SOFT_TISSUE_HU[0]:g}..{SOFT_TISSUE_HU[1]:g} HU (soft tissue); '
            f'expected at least {MIN_SHARE:.0%} of each'
            + (f' ({tags})' if tags else '')
            + '. A missing or wrong RescaleIntercept / RescaleSlope, a non-CT image or a '
            'label volume gives this')


def apply_window(hu: np.ndarray, level: float = LUNG_WINDOW_LEVEL,
                 width: float = LUNG_WINDOW_WIDTH) -> np.ndarray:
    """Map Hounsfield units to grey values through a display window.

    Args:
        hu: (H, W) array in HU.
        level: window centre in HU.
        width: window width in HU; ``level - width / 2`` maps to 0 and
            ``level + width / 2`` to 255.

    Returns:
        (H, W) uint8.
    """
    if width <= 0:
        raise ValueError(f'window width {width}: expected a positive number of HU')
    low = level - width / 2
    grey = (np.asarray(hu, np.float32) - np.float32(low)) * np.float32(255.0 / width)
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def to_bgr(img: np.ndarray) -> np.ndarray:
    """(H, W) grey or (H, W, C) colour uint8 image to a contiguous (H, W, 3) BGR image."""
    if img.ndim == 2:
        return np.ascontiguousarray(np.repeat(img[:, :, None], 3, axis=2))
    if img.ndim == 3 and img.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(img, 3, axis=2))
    if img.ndim == 3 and img.shape[2] == 4:  # drop the alpha channel
        return np.ascontiguousarray(img[:, :, :3])
    if img.ndim == 3 and img.shape[2] == 3:
        return np.ascontiguousarray(img)
    raise ValueError(f'image of shape {img.shape}: expected (H, W), (H, W, 1), (H, W, 3) '
                     'or (H, W, 4)')


def is_dicom(path: str, content: Optional[bytes] = None) -> bool:
    """True for a ``.dcm``/``.dicom`` name or a Part-10 preamble (``DICM`` at 128)."""
    if path.lower().endswith(DICOM_SUFFIXES):
        return True
    return content is not None and content[128:132] == b'DICM'


def is_nifti(path: str) -> bool:
    return path.lower().endswith(NIFTI_SUFFIXES)


def dicom_to_hu(source: Union[str, bytes], name: Optional[str] = None,
                allow_non_ct: bool = False) -> np.ndarray:
    """Read one DICOM slice in Hounsfield units.

    Args:
        source: file path or the file's bytes.
        name: the file's name for error messages (default: the path).
        allow_non_ct: read a file whose ``Modality`` is not ``CT`` (with a warning)
            instead of refusing it.

    Returns:
        (H, W) float32: ``stored value * RescaleSlope + RescaleIntercept``
        (:func:`~.dicom_pixels.rescale`: slope 1 when absent; an absent intercept is
        read as 0 with a warning; a slope of 0 or below is an error).
    """
    import pydicom  # deferred: only DICOM users need it

    name = name or (source if isinstance(source, str) else '<DICOM bytes>')
    try:
        ds = pydicom.dcmread(source if isinstance(source, str) else io.BytesIO(source))
    except Exception as exc:
        raise CTReadError(f'{name}: cannot read the DICOM file ({exc}); expected a '
                          'complete single-frame DICOM file') from None
    modality = str(ds.get('Modality', '') or '')
    if modality != 'CT':
        what = f'Modality {modality!r}' if modality else 'no Modality tag'
        if not allow_non_ct:
            raise CTReadError(f'{name}: DICOM with {what}; expected a CT image (Modality '
                              "'CT'), whose values are Hounsfield units. To read it anyway: "
                              'LoadCTSlice(allow_non_ct=True), tools/infer.py --force')
        warnings.warn(CTInputWarning(f'{name}: DICOM with {what} read as CT (allow_non_ct)'),
                      stacklevel=2)
    notes = []
    hu = rescale(ds, decode_pixels(ds, name), name, notes)
    for note in notes:
        warnings.warn(CTInputWarning(note), stacklevel=2)
    return replace_non_finite(hu, name)


def decode_ct_image(content: bytes, path: str, level: float = LUNG_WINDOW_LEVEL,
                    width: float = LUNG_WINDOW_WIDTH,
                    hu_offset_16bit: float = DEEPLESION_HU_OFFSET,
                    allow_non_ct: bool = False) -> np.ndarray:
    """Decode one slice file (PNG, JPEG or DICOM) to an (H, W, 3) uint8 BGR image.

    Args:
        content: the file's bytes.
        path: its name, for the format and for error messages.
        level, width: the window applied to HU data (DICOM, 16-bit PNG).
        hu_offset_16bit: subtracted from 16-bit PNG values to get HU (a warning when
            the result does not look like a chest slice, :func:`check_hu_plausible`).
        allow_non_ct: read a DICOM whose Modality is not CT, with a warning.

    Returns:
        (H, W, 3) uint8, BGR.
    """
    if is_dicom(path, content):
        return to_bgr(apply_window(dicom_to_hu(content, path, allow_non_ct), level, width))
    if not content:
        raise CTReadError(f'{path}: empty file; expected a PNG, JPEG or DICOM slice')
    img = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise CTReadError(f'{path}: cannot decode the image (unreadable or truncated); '
                          'expected a PNG, JPEG or DICOM slice')
    if img.dtype not in (np.uint8, np.uint16):
        raise CTReadError(f'{path}: pixel type {img.dtype}; expected 8-bit or 16-bit')
    return ct_array_to_bgr(img, path, level, width, hu_offset_16bit)


def ct_array_to_bgr(img: np.ndarray, name: str = '<array>', level: float = LUNG_WINDOW_LEVEL,
                    width: float = LUNG_WINDOW_WIDTH,
                    hu_offset_16bit: float = DEEPLESION_HU_OFFSET) -> np.ndarray:
    """A slice array, as a file decodes or a user passes it, to (H, W, 3) uint8 BGR.

    - uint8, grey (H, W) or (H, W, 1) or colour (H, W, 3|4): used as stored
      (already windowed; colour taken as BGR, mmcv's order);
    - uint16: HU + ``hu_offset_16bit`` (a 16-bit PNG), then the window;
    - signed integers or floats: HU (a DICOM or NIfTI slice already rescaled, e.g.
      an int16 array from pydicom's ``pixel_array * slope + intercept``), then the
      window; NaN and infinities counted in a warning and shown as air.

    A multi-channel array that is not uint8 must repeat one grey channel.

    Args:
        img: the array.
        name: where it came from, for errors and warnings.
        level, width: the display window for HU data.
        hu_offset_16bit: subtracted from uint16 values to get HU.
    """
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return to_bgr(img)
    if img.ndim == 3:
        if not all(np.array_equal(img[..., 0], img[..., c]) for c in range(1, img.shape[2])):
            raise CTReadError(f'{name}: {img.dtype} image with {img.shape[2]} different '
                              'channels; expected a grey slice (HU, or HU + offset in 16 bits)')
        img = img[..., 0]
    if img.ndim != 2:
        raise CTReadError(f'{name}: array of shape {img.shape}; expected one slice (H, W) '
                          'or (H, W, C)')
    if img.dtype == np.uint16:
        hu = img.astype(np.float32) - np.float32(hu_offset_16bit)
        check_hu_plausible(hu, name, hu_offset_16bit)
    elif np.issubdtype(img.dtype, np.signedinteger) or np.issubdtype(img.dtype, np.floating):
        hu = replace_non_finite(img.astype(np.float32), name)
    else:
        raise CTReadError(f'{name}: pixel type {img.dtype}; expected uint8 (windowed), uint16 '
                          '(HU + offset) or signed integers / floats (HU)')
    return to_bgr(apply_window(hu, level, width))


def load_nifti_hu(path: str) -> np.ndarray:
    """Read a NIfTI volume as axial slices in radiological orientation.

    The volume is reoriented to RAS+ (nibabel's closest canonical), then each axial
    slice ``[:, :, k]`` is transposed and flipped so that rows run anterior to
    posterior and columns from the patient's right to left, as in DICOM.

    Args:
        path: ``.nii`` or ``.nii.gz`` file (values in HU after nibabel applies the
            header's scl_slope / scl_inter); a 2-D image is one axial slice. NaN and
            infinite values are counted in a warning and set to air.

    Returns:
        (D, H, W) float32, slice ``k`` feet to head.
    """
    import nibabel as nib  # deferred: only NIfTI users need it

    try:
        img = nib.as_closest_canonical(nib.load(path))
        vol = np.asanyarray(img.dataobj, dtype=np.float32)
    except Exception as exc:
        raise CTReadError(f'{path}: cannot read the NIfTI volume ({exc}); expected a '
                          'complete .nii or .nii.gz file') from None
    if vol.ndim == 4 and vol.shape[3] == 1:
        vol = vol[..., 0]
    if vol.ndim == 2:  # one axial slice (x, y)
        vol = vol[..., None]
    if vol.ndim != 3:
        raise CTReadError(f'{path}: NIfTI data has shape {vol.shape}; expected a 3-D '
                          'volume (or a 2-D slice)')
    replace_non_finite(vol.transpose(2, 1, 0), path)  # a view: fixes vol, counts per slice
    # (x: R->L flipped to columns, y: A at the top, z) -> (z, rows, columns)
    return np.ascontiguousarray(vol.transpose(2, 1, 0)[:, ::-1, ::-1])


def iter_nifti_slices(path: str, level: float = LUNG_WINDOW_LEVEL,
                      width: float = LUNG_WINDOW_WIDTH,
                      ) -> Iterator[Tuple[int, np.ndarray]]:
    """Yield the axial slices of a NIfTI CT volume, ready for the model.

    Example::

        from mmdet.apis import init_detector, inference_detector
        for k, img in iter_nifti_slices('scan.nii.gz'):
            result = inference_detector(model, img)  # img is (H, W, 3) BGR uint8

    Args:
        path: ``.nii`` or ``.nii.gz`` volume in HU.
        level, width: the display window.

    Yields:
        (slice index, (H, W, 3) uint8 BGR image), feet to head.
    """
    vol = load_nifti_hu(path)
    for k in range(vol.shape[0]):
        yield k, to_bgr(apply_window(vol[k], level, width))


def nifti_slice_infos(path: str) -> List[dict]:
    """Data infos of every axial slice of a NIfTI volume, for a dataset whose pipeline
    starts with ``LoadCTSlice`` (it reads ``slice_index``). Reads only the header.

    Returns:
        ``[{'img_path': path, 'slice_index': k}, ...]``, feet to head.
    """
    import nibabel as nib

    try:
        img = nib.load(path)
    except Exception as exc:
        raise CTReadError(f'{path}: cannot read the NIfTI header ({exc}); expected a '
                          '.nii or .nii.gz file') from None
    if len(img.shape) == 2:  # one axial slice
        return [dict(img_path=path, slice_index=0)]
    # The axial axis is the one whose direction is superior or inferior.
    axes = [i for i, code in enumerate(nib.aff2axcodes(img.affine)) if code in 'SI']
    depth = img.shape[axes[0] if axes else 2]
    return [dict(img_path=path, slice_index=k) for k in range(depth)]
