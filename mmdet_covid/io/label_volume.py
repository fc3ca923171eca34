"""A label volume (NIfTI) of a scan, e.g. lung lobes, placed on the scan's display grid.

The labels must lie on the scan's voxel grid: the grid of the scan's own NIfTI, or of a
DICOM series converted to NIfTI (dcm2niix, TotalSegmentator's and lungmask's readers),
in whatever axis order and direction the file stores it. Nothing is resampled: a file on
another grid (another shape, spacing, origin or a rotation) is refused, naming both
grids, because labels moved onto another grid would no longer say which voxels they
meant.
"""
import numpy as np

from .ct_io import CTReadError, is_nifti
from .ct_volume import CTVolume

# World positions (mm) of two grids' voxels may differ by this much and still match.
GRID_TOLERANCE_MM = 0.05


def _grid(img) -> str:
    zooms = ', '.join(f'{z:g}' for z in img.header.get_zooms()[:3])
    origin = ', '.join(f'{v:.1f}' for v in img.affine[:3, 3])
    import nibabel as nib
    axes = ''.join(nib.aff2axcodes(img.affine))
    return f'{tuple(img.shape[:3])} voxels of {zooms} mm, {axes}, origin ({origin}) mm'


def read_label_volume(path: str, volume: CTVolume) -> np.ndarray:
    """The labels of the NIfTI ``path`` as a (D, H, W) array in ``volume``'s display
    orientation (``volume.hu``'s shape).

    Raises:
        CTReadError: the file cannot be read, holds no integer labels, or lies on
            another grid (both grids named).
    """
    import nibabel as nib

    if not is_nifti(path):
        raise CTReadError(f'{path}: expected a NIfTI label volume (.nii, .nii.gz)')
    try:
        img = nib.load(path)
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # nibabel's errors name no common base class
        raise CTReadError(f'{path}: cannot be read as NIfTI ({exc.__class__.__name__}: '
                          f'{exc})') from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise CTReadError(f'{path}: {data.ndim}-D data {data.shape}; expected one 3-D label '
                          'volume')
    if not np.issubdtype(data.dtype, np.integer):
        if not np.all(np.isfinite(data)) or not np.array_equal(data, np.round(data)):
            raise CTReadError(f'{path}: values that are not whole numbers; expected integer '
                              'labels')
    if data.min() < 0 or data.max() > np.iinfo(np.uint16).max:
        raise CTReadError(f'{path}: values from {data.min()} to {data.max()}; expected labels '
                          f'from 0 to {np.iinfo(np.uint16).max}')
    labels = nib.Nifti1Image(data.astype(np.uint16), img.affine)

    # the scan's grid as its own NIfTI output has it, each voxel holding its display
    # index + 1 (0 where an unevenly spaced series has no slice)
    depth, rows, cols = volume.hu.shape
    index = np.arange(1, depth * rows * cols + 1, dtype=np.int32).reshape(depth, rows, cols)
    reference = volume.to_nifti(index)
    ornt = nib.orientations.ornt_transform(nib.orientations.io_orientation(labels.affine),
                                           nib.orientations.io_orientation(reference.affine))
    moved = labels.as_reoriented(ornt)
    # the voxel centres of both grids at the corners must coincide
    corners = np.array([[i, j, k, 1] for i in (0, 1) for j in (0, 1) for k in (0, 1)], float)
    corners[:, :3] *= np.array(reference.shape[:3]) - 1
    same = moved.shape[:3] == reference.shape[:3] and np.allclose(
        (moved.affine @ corners.T)[:3], (reference.affine @ corners.T)[:3],
        atol=GRID_TOLERANCE_MM)
    if not same:
        raise CTReadError(f'{path}: labels on {_grid(labels)}; the scan {volume.source} is on '
                          f'{_grid(reference)}. Expected the scan\'s grid (run the lobe '
                          'segmentation on this series, or on its NIfTI conversion)')
    ref_index = np.asanyarray(reference.dataobj)
    placed = np.zeros(depth * rows * cols, np.uint16)
    found = ref_index > 0
    placed[ref_index[found] - 1] = np.asanyarray(moved.dataobj)[found]
    return placed.reshape(depth, rows, cols)
