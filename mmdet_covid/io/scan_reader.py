"""read_ct_volume: a scan from whatever the user points at (DICOM folder, NIfTI, images).

A folder is a DICOM series when any of its files (recursively, whatever their names) is a
DICOM image of a series; slice images and other files beside the series are then counted
in a warning, never read as slices nor dropped silently. A folder without DICOM series is
read as a folder of slice images.
"""
import os.path as osp
from typing import Dict, Optional

from .ct_io import CTReadError, is_nifti
from .ct_volume import CTVolume
from .dicom_series import list_dicom_series, read_dicom_series
from .image_folder import read_image_folder
from .nifti_volume import read_nifti_volume


def read_ct_volume(source: str, series_uid: Optional[str] = None,
                   allow_non_ct: bool = False) -> CTVolume:
    """Read a scan: a NIfTI file, a DICOM series folder, or a folder of slice images.

    Args:
        source: the path.
        series_uid: the DICOM series to read (default: the axial CT series with most
            slices).
        allow_non_ct: read a DICOM series whose Modality is not CT, or values that do
            not look like HU, with a warning.
    """
    if not osp.exists(source):
        raise CTReadError(f'{source}: does not exist; expected a DICOM series folder, a '
                          'NIfTI volume or a folder of slice images')
    if osp.isfile(source):
        if is_nifti(source):
            if series_uid is not None:
                raise CTReadError(f'{source}: --series {series_uid} given, but the input is '
                                  'a NIfTI volume, not a DICOM series')
            return read_nifti_volume(source, allow_non_ct)
        raise CTReadError(f'{source}: a single file; expected a NIfTI volume (.nii, .nii.gz) '
                          'or a folder (DICOM series, slice images)')
    skipped: Dict[str, str] = {}
    series = list_dicom_series(source, skipped)
    if series:
        return read_dicom_series(source, series_uid, allow_non_ct, listed=(series, skipped))
    if series_uid is not None:
        raise CTReadError(f'{source}: --series {series_uid} given, but the folder holds no '
                          'DICOM series (slice images or other files only)')
    return read_image_folder(source)
