"""Reading a folder of slice images (one slice each) as a :class:`~.ct_volume.CTVolume`.

Slices in natural name order (``2.png`` before ``10.png``), no physical units. 8-bit
images are already in a display window: their HU are approximated by inverting the lung
window (exact for values inside the window, clipped outside it); 16-bit PNGs hold HU +
an offset (DeepLesion's 32768 by default, checked by
:func:`~.ct_io.check_hu_plausible`); DICOM files among them are read one by one.
"""
import os
import re
import warnings

import cv2
import numpy as np

from .ct_io import (DEEPLESION_HU_OFFSET, DICOM_SUFFIXES, LUNG_WINDOW_LEVEL, LUNG_WINDOW_WIDTH,
                    CTInputWarning, CTReadError, check_hu_plausible, dicom_to_hu)
from .ct_volume import CTVolume, check_size
from .dicom_series import IMAGE_SUFFIXES


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r'(\d+)', name)]


def read_image_folder(folder: str, level: float = LUNG_WINDOW_LEVEL,
                      width: float = LUNG_WINDOW_WIDTH,
                      hu_offset_16bit: float = DEEPLESION_HU_OFFSET) -> CTVolume:
    """Read a folder of slice images as a :class:`CTVolume` without physical units
    (module docstring)."""
    names = sorted((n for n in os.listdir(folder) if not n.startswith('.') and
                    n.lower().endswith(IMAGE_SUFFIXES + DICOM_SUFFIXES)), key=_natural_key)
    if not names:
        raise CTReadError(f'{folder}: no slice images (expected {", ".join(IMAGE_SUFFIXES)} '
                          'or DICOM files)')
    slices, exact = [], []
    for name in names:
        path = os.path.join(folder, name)
        if name.lower().endswith(DICOM_SUFFIXES):
            slices.append(dicom_to_hu(path))
            exact.append(True)
        else:
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
        if len(slices) == 1:
            check_size(folder, len(names), *slices[0].shape, where='its images')
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
