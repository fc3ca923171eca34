"""CTVolume: one CT scan as axial slices in Hounsfield units, with its geometry.

The readers (:mod:`.dicom_series`, :mod:`.nifti_volume`, :mod:`.image_folder`, and
:func:`~mmdet_covid.io.scan_reader.read_ct_volume` that chooses between them) all
return a :class:`CTVolume`: the scan as axial slices in display orientation (``hu[k]`` a
slice, rows anterior to posterior, columns from the patient's right to left, ``k`` feet
to head), its voxel spacing, the affine that maps voxel indices to the scanner's world
coordinates, and what it came from.

Slices need not be evenly spaced (a DICOM series with a missing slice): each slice then
stands for the stretch of the body axis halfway to its neighbours
(:attr:`CTVolume.slice_thickness`), volumes are summed slice by slice with it, and label
volumes are written to NIfTI on an even grid at the median spacing
(:meth:`CTVolume.to_nifti`), the one geometry NIfTI can describe.
"""
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from .ct_io import CTReadError

# Relative deviation of one slice gap from the median gap that counts as uneven.
UNEVEN_SPACING = 0.1
# The largest scan read (voxels): 2 GiB of float32 HU, e.g. 2,048 slices of 512x512.
MAX_VOXELS = 1 << 29
# The largest slice side read (pixels): CT is 512 or 1024; a header claiming more is
# refused before any pixel is decoded.
MAX_SLICE_SIDE = 4096


def check_size(name: str, slices: int, rows: int, columns: int,
               where: str = 'its header') -> None:
    """Refuse a scan larger than :data:`MAX_VOXELS` or with a slice side over
    :data:`MAX_SLICE_SIDE`, before its pixels are read (``name`` in the message)."""
    if rows < 1 or columns < 1 or slices < 1:
        raise CTReadError(f'{name}: {slices} slice(s) of {columns}x{rows} pixels in {where}; '
                          'expected at least one slice of at least 1x1 pixel')
    if max(rows, columns) > MAX_SLICE_SIDE:
        raise CTReadError(f'{name}: slices of {columns}x{rows} pixels in {where}; expected at '
                          f'most {MAX_SLICE_SIDE} per side (a CT slice is 512 or 1024)')
    if slices * rows * columns > MAX_VOXELS:
        raise CTReadError(
            f'{name}: {slices} slices of {columns}x{rows} pixels = '
            f'{slices * rows * columns:,} voxels in {where}; expected at most '
            f'{MAX_VOXELS:,} ({MAX_VOXELS * 4 / 2**30:.0f} GiB in HU). Analyse a thicker '
            'reconstruction or part of the scan')


def slice_extents(positions: np.ndarray) -> np.ndarray:
    """The stretch of the body axis each slice stands for (mm): halfway to each
    neighbour; an end slice takes its one neighbour's gap on both sides.

    Args:
        positions: (D,) slice positions in mm, increasing.

    Returns:
        (D,) float64; all equal to the spacing when the slices are evenly spaced.
    """
    positions = np.asarray(positions, np.float64)
    if positions.size < 2:
        raise ValueError('slice_extents needs at least two positions')
    gaps = np.diff(positions)
    before = np.concatenate([gaps[:1], gaps])
    after = np.concatenate([gaps, gaps[-1:]])
    return (before + after) / 2.0


@dataclass
class CTVolume:
    """One CT scan ready for slice-by-slice analysis.

    Attributes:
        hu: (D, H, W) float32 in HU, axial slices in display orientation, feet to head
            (approximate HU for 8-bit image folders: ``hu_exact`` is False).
        spacing: (slice, row, column) spacing in mm (the slice spacing is the median gap),
            or None without physical units.
        affine: 4x4 map from display indices ``(column, row, slice, 1)`` to RAS mm
            (NIfTI's convention), or None without physical units. For unevenly spaced
            slices it describes the even grid at the median spacing that
            :meth:`to_nifti` writes; :attr:`slice_z_mm` holds the true positions.
        source: the input path; ``kind``: 'dicom', 'nifti' or 'images'.
        slice_names: one name per slice, traceable to the input (file or volume index).
        hu_exact: whether ``hu`` holds the stored HU (False: inverted from a window).
        series: for DICOM, the chosen series' description (UID, description, counts) and
            ``datasets``: the slices' headers (no pixel data), in slice order.
        warnings: what looked wrong in the input.
        nifti_header: the input's nibabel image (NIfTI input only).
        slice_thickness: (D,) mm of the body axis each slice stands for
            (:func:`slice_extents`), or None without physical units.
        slice_z_mm: (D,) RAS z (mm, feet to head) of each slice's first voxel, or None
            without physical units.
        slice_positions_mm: (D,) distance of each slice from the first along the slice
            normal (mm, increasing), what :meth:`even_grid` is built on; None without
            physical units.
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
    nifti_header: object = None
    slice_thickness: Optional[np.ndarray] = None
    slice_z_mm: Optional[np.ndarray] = None
    slice_positions_mm: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        depth = self.hu.shape[0]
        if self.spacing is not None and self.slice_thickness is None:
            self.slice_thickness = np.full(depth, float(self.spacing[0]))
        if self.spacing is not None and self.slice_positions_mm is None:
            self.slice_positions_mm = float(self.spacing[0]) * np.arange(depth, dtype=float)
        if self.affine is not None and self.slice_z_mm is None:
            k = np.arange(depth, dtype=np.float64)
            self.slice_z_mm = (self.affine @ np.stack(
                [np.zeros(depth), np.zeros(depth), k, np.ones(depth)]))[2]

    @property
    def uneven(self) -> bool:
        """Whether the slices are unevenly spaced (:data:`UNEVEN_SPACING`)."""
        if self.spacing is None:
            return False
        return bool(np.any(np.abs(self.slice_thickness - self.spacing[0])
                           > UNEVEN_SPACING * self.spacing[0]))

    @property
    def voxel_ml(self) -> Optional[float]:
        """Volume of one voxel in mL (mm^3 / 1000) at the median slice spacing, or None
        without physical units (:attr:`slice_voxel_ml` per slice)."""
        if self.spacing is None:
            return None
        return float(np.prod(self.spacing)) / 1000.0

    @property
    def slice_voxel_ml(self) -> Optional[np.ndarray]:
        """(D,) volume of one voxel of each slice in mL, its own thickness included, or
        None without physical units: what volumes are summed with."""
        if self.spacing is None:
            return None
        return self.slice_thickness * (self.spacing[1] * self.spacing[2] / 1000.0)

    def geometry(self) -> dict:
        """Shape, spacing and affine as plain lists (for a JSON report)."""
        out = dict(
            shape_slices_rows_columns=list(self.hu.shape),
            spacing_mm_slice_row_column=None if self.spacing is None else
            [round(float(s), 6) for s in self.spacing],
            affine_ras=None if self.affine is None else np.round(self.affine, 6).tolist(),
            physical_units=self.spacing is not None, uneven_slice_spacing=self.uneven)
        if self.uneven:
            out['slice_z_mm'] = [round(float(z), 4) for z in self.slice_z_mm]
            out['slice_thickness_mm'] = [round(float(t), 4) for t in self.slice_thickness]
        return out

    def even_grid(self) -> Tuple[np.ndarray, np.ndarray]:
        """The even grid of an unevenly spaced scan at the median spacing, from its first
        slice to its last along the slice normal (the grid :attr:`affine` describes):
        which input slice fills each grid slice (-1: none lies within half a spacing)
        and the grid slices' distances from the first (mm)."""
        dz = float(self.spacing[0])
        pos = self.slice_positions_mm
        n = int(round((pos[-1] - pos[0]) / dz)) + 1
        grid = pos[0] + dz * np.arange(n)
        nearest = np.abs(grid[:, None] - pos[None, :]).argmin(axis=1)
        far = np.abs(pos[nearest] - grid) > 0.5 * dz * (1 + 1e-6)
        return np.where(far, -1, nearest), grid

    def to_nifti(self, labels: np.ndarray):
        """A label volume of this scan, ``labels`` (D, H, W) in display orientation, as a
        nibabel image aligned with the input: for NIfTI input on the input's own voxel
        grid and header; otherwise on the display grid with :attr:`affine` (identity,
        1 mm voxels, when the scan has no physical units). Unevenly spaced slices are
        placed on :meth:`even_grid` (each grid slice takes the nearest input slice's
        labels, none where no input slice lies within half a spacing)."""
        import nibabel as nib

        if self.uneven and self.kind != 'nifti':
            source, _ = self.even_grid()
            even = np.zeros((len(source), ) + labels.shape[1:], labels.dtype)
            even[source >= 0] = labels[source[source >= 0]]
            labels = even
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
