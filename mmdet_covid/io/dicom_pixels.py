"""DICOM pixel data in Hounsfield units, compressed transfer syntaxes included.

Real archives store CT compressed: JPEG Lossless (Process 14, the commonest), JPEG
baseline / extended, JPEG-LS, JPEG 2000, RLE, deflate. pydicom decodes them through its
pixel-data plugins; ``make setup`` installs pylibjpeg with its libjpeg, openjpeg and rle
packages, pyjpegls and python-gdcm, so that every syntax has two decoders
(:func:`decoder_table` lists what this environment has). A syntax that still cannot be
decoded is an error that names the file, the syntax and what to install.

HU are ``stored value x RescaleSlope + RescaleIntercept`` (DICOM PS3.3 C.11.1.1.2);
:func:`rescale` refuses a slope of 0 or below (which would erase or invert the scan),
names an absent intercept, and turns the stored pixel padding value (the air outside the
reconstruction circle on some scanners) into air.
"""
from typing import Dict, List, Optional, Tuple

import numpy as np

from .hounsfield import AIR_HU, CTReadError

# What to install for a transfer syntax that has no working decoder.
INSTALL = ('pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pylibjpeg-rle '
           'pyjpegls python-gdcm (make setup installs them)')


def transfer_syntax(ds) -> Tuple[str, str]:
    """``(uid, name)`` of a dataset's transfer syntax ('(none)' when it has no file meta)."""
    meta = getattr(ds, 'file_meta', None)
    uid = meta.get('TransferSyntaxUID') if meta is not None else None
    if uid is None:
        return '(none)', 'no TransferSyntaxUID in the file meta'
    return str(uid), getattr(uid, 'name', str(uid))


def set_read_syntax(ds) -> None:
    """Give a data set read without file meta (no Part-10 header) the transfer syntax it
    was read with: such a file can only hold uncompressed pixels."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    implicit, little = ds.original_encoding
    if getattr(ds, 'file_meta', None) is None:
        ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = (ImplicitVRLittleEndian if implicit else
                                      ExplicitVRLittleEndian if little else ExplicitVRBigEndian)


def decoder_table() -> List[Dict[str, object]]:
    """The compressed syntaxes of real archives and the plugins that decode each here."""
    from pydicom import uid as u
    from pydicom.pixels import get_decoder

    rows = []
    for syntax in (u.JPEGLosslessSV1, u.JPEGLossless, u.JPEGBaseline8Bit, u.JPEGExtended12Bit,
                   u.JPEGLSLossless, u.JPEGLSNearLossless, u.JPEG2000Lossless, u.JPEG2000,
                   u.RLELossless, u.DeflatedExplicitVRLittleEndian):
        decoder = get_decoder(syntax)
        rows.append(dict(uid=str(syntax), name=syntax.name,
                         plugins=list(decoder.available_plugins),
                         native=not syntax.is_compressed))
    return rows


def decode_pixels(ds, path: str) -> np.ndarray:
    """The stored pixel values of a single-frame greyscale DICOM image.

    Args:
        ds: the dataset, pixel data included.
        path: its file, for messages.

    Returns:
        (Rows, Columns) array as stored (before rescaling).

    Raises:
        CTReadError: naming ``path``, the transfer syntax and, when no decoder is
            installed for it, what to install.
    """
    from pydicom.pixels import get_decoder

    uid, name = transfer_syntax(ds)
    if uid == '(none)':  # a raw data set (no preamble, no file meta): uncompressed,
        set_read_syntax(ds)  # in the encoding it was read with
        uid, name = transfer_syntax(ds)
    if 'PixelData' not in ds:
        raise CTReadError(f'{path}: no pixel data (7FE0,0010); expected a CT image')
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom raises many kinds for corrupt or unsupported data
        reason = ' '.join(str(exc).split())
        try:
            usable = get_decoder(uid).is_available
        except Exception:  # no decoder exists for this uid at all
            usable = False
        hint = ('; the data may be truncated or corrupt' if usable else
                f'; no decoder for it is installed here: {INSTALL}')
        raise CTReadError(f'{path}: cannot decode the pixel data, transfer syntax {name} '
                          f'({uid}): {reason}{hint}') from None
    if pixels.ndim != 2:
        raise CTReadError(f'{path}: pixel data of shape {pixels.shape}; expected one '
                          'greyscale frame (Rows, Columns): SamplesPerPixel 1, one frame')
    return pixels


def rescale(ds, pixels: np.ndarray, path: str, notes: Optional[List[str]] = None) -> np.ndarray:
    """Stored values to HU (float32), with the checks of the module docstring.

    Args:
        ds: the dataset (its rescale and padding tags).
        pixels: :func:`decode_pixels`'s array.
        path: the file, for messages.
        notes: if given, what looked wrong but was read is appended (once per kind).

    Raises:
        CTReadError: a RescaleSlope of 0 or below, or one that is not a number.
    """
    try:
        slope = float(ds.RescaleSlope) if ds.get('RescaleSlope') not in (None, '') else 1.0
        intercept = (float(ds.RescaleIntercept)
                     if ds.get('RescaleIntercept') not in (None, '') else None)
    except (TypeError, ValueError) as exc:
        raise CTReadError(f'{path}: RescaleSlope / RescaleIntercept (0028,1053 / 0028,1052) '
                          f'are not numbers ({exc}); expected decimal strings') from None
    if not slope > 0:
        raise CTReadError(f'{path}: RescaleSlope (0028,1053) is {slope:g}; expected a '
                          'positive factor (HU = stored value x slope + intercept): 0 would '
                          'erase the scan and a negative slope invert it')
    if intercept is None:
        intercept = 0.0
        if notes is not None:
            notes.append(f'{path}: no RescaleIntercept (0028,1052): read as 0 (HU = stored '
                         'value x slope)')
    hu = pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    padding = ds.get('PixelPaddingValue')
    if isinstance(padding, int):
        limit = ds.get('PixelPaddingRangeLimit')
        low, high = sorted((padding, limit if isinstance(limit, int) else padding))
        pad = (pixels >= low) & (pixels <= high)
        hu[pad] = AIR_HU
    return hu


def tag_summary(ds) -> str:
    """The tags that make the HU of a slice, for messages: slope, intercept, bits,
    modality."""
    def value(key):
        v = ds.get(key)
        return 'absent' if v in (None, '') else str(v)

    return (f'RescaleSlope {value("RescaleSlope")}, RescaleIntercept '
            f'{value("RescaleIntercept")}, BitsStored {value("BitsStored")}, '
            f'PixelRepresentation {value("PixelRepresentation")}, Modality '
            f'{value("Modality")}')
