"""Reading a NIfTI CT volume (nibabel) as a :class:`~.ct_volume.CTVolume`.

The volume is reoriented to RAS (nibabel's closest canonical) and sliced along its
feet-head axis (:func:`~.ct_io.load_nifti_hu`); the original image is kept so that label
volumes are written back on the input's own voxel grid. Its geometry is checked from
the header before the voxels are read:

* voxel sizes (``pixdim[1:4]``, read raw: nibabel would make a 0 into 1) must be positive
  unless an sform places the voxels (a qform's scale is pixdim itself), and the affine
  must be invertible: a zero slice spacing is an error, never a silent 1 mm; the spacing
  used is the affine's;
* the slice axis must lie within :data:`~.dicom_series.AXIAL_COSINE` of the feet-head
  axis (a volume stored along another axis is sliced along the one that is axial; a
  strongly oblique one cannot be sliced axially and is refused); an obliquity above 1
  degree is a warning;
* the scan must fit :data:`~.ct_volume.MAX_VOXELS`;
* its values must look like a chest CT in HU (:func:`~.ct_io.check_volume_hu`, naming
  the header's scaling), unless ``allow_non_ct``.
"""
import os.path as osp
import warnings
from typing import List

import numpy as np
from nibabel.openers import ImageOpener

from .ct_io import CTInputWarning, CTReadError, check_volume_hu, load_nifti_hu
from .ct_volume import CTVolume, check_size
from .dicom_series import AXIAL_COSINE


def check_nifti_geometry(img, path: str) -> List[str]:
    """Refuse a NIfTI image whose geometry cannot be sliced axially in mm (module
    docstring); returns the warnings for what is odd but usable."""
    import nibabel as nib

    shape = img.shape
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) not in (2, 3):
        raise CTReadError(f'{path}: NIfTI data of shape {shape}; expected a 3-D volume (or a '
                          '2-D slice)')
    notes = []
    # nibabel replaces a zero voxel size by 1 when it reads the header: read it raw
    with ImageOpener(path) as f:
        raw = type(img.header).from_fileobj(f, check=False)
    zooms = [float(z) for z in raw['pixdim'][1:len(shape) + 1]]
    if not all(np.isfinite(z) and z > 0 for z in zooms):
        message = (f'{path}: voxel sizes (pixdim[1:{len(shape) + 1}]) '
                   f'{[round(z, 6) for z in zooms]} mm')
        if not int(raw['sform_code']):  # a qform's scale is pixdim itself
            raise CTReadError(message + '; expected positive sizes, and no sform gives the '
                              'grid instead: a zero slice spacing leaves the volumes '
                              'undefined')
        notes.append(message + ': not positive; the spacing is taken from the sform')
    if len(shape) == 2:  # one axial slice
        check_size(path, 1, shape[1], shape[0], where='its header')
        return notes
    matrix = np.asarray(img.affine, float)[:3, :3]
    if not np.isfinite(matrix).all() or abs(np.linalg.det(matrix)) < 1e-9:
        raise CTReadError(f'{path}: its affine (sform/qform) is not invertible: '
                          f'{np.round(matrix, 4).tolist()}; expected a voxel-to-world map')
    axes = nib.orientations.io_orientation(img.affine)
    slice_axis = int(np.flatnonzero(axes[:, 0] == 2)[0])  # the voxel axis towards S/I
    cols, rows = (shape[a] for a in range(3) if a != slice_axis)
    check_size(path, shape[slice_axis], rows, cols, where='its header')
    directions = matrix / np.linalg.norm(matrix, axis=0, keepdims=True)
    cosine = abs(directions[2, slice_axis])
    if cosine < AXIAL_COSINE:
        raise CTReadError(f'{path}: its slice axis (voxel axis {slice_axis}) is '
                          f'{np.degrees(np.arccos(cosine)):.1f} degrees from the feet-head '
                          'axis; expected axial slices (within '
                          f'{np.degrees(np.arccos(AXIAL_COSINE)):.0f} degrees). Resample it to '
                          'an axial grid first')
    oblique = float(np.degrees(np.arccos(np.clip(np.abs(directions).max(axis=0), 0, 1))).max())
    if oblique > 1.0:
        notes.append(f'{path}: the voxel axes are oblique by up to {oblique:.1f} degrees to '
                     'the patient axes; sliced along the nearest (axial) one, volumes exact')
    return notes


def read_nifti_volume(path: str, allow_non_ct: bool = False) -> CTVolume:
    """Read a NIfTI CT volume (HU) as a :class:`CTVolume` (module docstring).

    Args:
        path: ``.nii`` or ``.nii.gz``.
        allow_non_ct: read values that do not look like CT in HU, with a warning.
    """
    import nibabel as nib

    try:
        src = nib.load(path)
    except Exception as exc:
        raise CTReadError(f'{path}: cannot read the NIfTI header ({exc}); expected a '
                          'complete .nii or .nii.gz file') from None
    notes = check_nifti_geometry(src, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', CTInputWarning)
        hu = load_nifti_hu(path)
    notes += [str(w.message) for w in caught]
    slope, inter = src.header.get_slope_inter()
    tags = (f'scl_slope {slope}, scl_inter {inter}, datatype '
            f'{src.header.get_data_dtype()}')
    implausible = check_volume_hu(hu, path, tags)
    if implausible:
        if not allow_non_ct:
            raise CTReadError(implausible + '. --force reads it anyway')
        notes.append(implausible + ': read anyway (allow_non_ct)')
    for note in notes:
        warnings.warn(CTInputWarning(note), stacklevel=2)
    canonical = nib.as_closest_canonical(src)
    # voxel sizes from the affine that places the voxels (the header's pixdim may be 0)
    zooms = [float(v) for v in np.linalg.norm(canonical.affine[:3, :3], axis=0)]
    # display (column, row, slice) = canonical (x flipped, y flipped, z)
    nx, ny = canonical.shape[0], canonical.shape[1]
    flip = np.array([[-1, 0, 0, nx - 1], [0, -1, 0, ny - 1], [0, 0, 1, 0], [0, 0, 0, 1]],
                    float)
    affine = canonical.affine @ flip
    return CTVolume(hu=hu, spacing=(zooms[2], zooms[1], zooms[0]), affine=affine,
                    source=path, kind='nifti',
                    slice_names=[f'{osp.basename(path)}#{k}' for k in range(hu.shape[0])],
                    warnings=notes, nifti_header=src)
