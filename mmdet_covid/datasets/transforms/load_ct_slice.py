"""LoadCTSlice: one CT slice from any published format as a 3-channel uint8 image."""
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.fileio import get, get_local_path

from mmdet.registry import TRANSFORMS
from ...io.ct_io import (DEEPLESION_HU_OFFSET, LUNG_WINDOW_LEVEL, LUNG_WINDOW_WIDTH,
                         apply_window, decode_ct_image, is_nifti, load_nifti_hu, to_bgr)


@TRANSFORMS.register_module()
class LoadCTSlice(BaseTransform):
    """Load a chest-CT slice as an (H, W, 3) uint8 BGR image, whatever its format.

    8-bit PNG/JPEG (grey or colour) are used as stored; 16-bit PNG (HU + offset), DICOM
    (rescale slope / intercept to HU) and NIfTI volumes (HU) go through a display
    window, the lung window by default. Grey slices are replicated to three channels
    so that every source feeds the same model (its data preprocessor converts BGR to
    RGB).

    Required keys:

    - img_path
    - slice_index (NIfTI volumes only: the axial slice, see
      :func:`mmdet_covid.io.ct_io.nifti_slice_infos`)

    Added keys:

    - img (np.uint8, (H, W, 3), BGR)
    - img_shape (tuple, (H, W))
    - ori_shape (tuple, (H, W))

    Args:
        window_level: window centre in HU, for HU sources. Defaults to -600.
        window_width: window width in HU, for HU sources. Defaults to 1500.
        hu_offset_16bit: value stored for 0 HU in 16-bit PNGs. Defaults to 32768
            (DeepLesion); use 1024 for exports that store HU + 1024. A slice whose
            values do not look like HU with this offset is read with a warning.
        allow_non_ct: read a DICOM whose Modality is not CT (with a warning) instead
            of refusing it. Defaults to False.
        backend_args: mmengine file-backend arguments. Defaults to None (local disk).
    """

    def __init__(self, window_level: float = LUNG_WINDOW_LEVEL,
                 window_width: float = LUNG_WINDOW_WIDTH,
                 hu_offset_16bit: float = DEEPLESION_HU_OFFSET,
                 allow_non_ct: bool = False,
                 backend_args: Optional[dict] = None) -> None:
        if window_width <= 0:
            raise ValueError(f'window_width={window_width}: expected a positive width in HU')
        self.window_level = window_level
        self.window_width = window_width
        self.hu_offset_16bit = hu_offset_16bit
        self.allow_non_ct = allow_non_ct
        self.backend_args = backend_args
        # Inference walks a volume slice by slice: keep the last volume read.
        self._volume_path: Optional[str] = None
        self._volume: Optional[np.ndarray] = None

    def _nifti_slice(self, path: str, index) -> np.ndarray:
        if index is None:
            raise KeyError(f'{path}: a NIfTI volume needs results["slice_index"]; build the '
                           'data list with mmdet_covid.io.ct_io.nifti_slice_infos')
        if path != self._volume_path:
            with get_local_path(path, backend_args=self.backend_args) as local:
                self._volume = load_nifti_hu(local)
            self._volume_path = path
        depth = self._volume.shape[0]
        if not 0 <= int(index) < depth:
            raise IndexError(f'{path}: slice_index {index} outside the volume\'s {depth} '
                             'axial slices')
        return to_bgr(apply_window(self._volume[int(index)], self.window_level,
                                   self.window_width))

    def transform(self, results: dict) -> dict:
        """Read ``results['img_path']`` into ``results['img']``.

        Args:
            results: the data info of one sample.

        Returns:
            ``results`` with ``img`` (H, W, 3) uint8 BGR, ``img_shape`` and
            ``ori_shape`` (H, W).
        """
        path = results['img_path']
        if is_nifti(path):
            img = self._nifti_slice(path, results.get('slice_index'))
        else:
            try:
                content = get(path, backend_args=self.backend_args)
            except FileNotFoundError:
                raise FileNotFoundError(f'{path}: CT slice not found') from None
            img = decode_ct_image(content, path, self.window_level, self.window_width,
                                  self.hu_offset_16bit, self.allow_non_ct)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(window_level={self.window_level}, '
                f'window_width={self.window_width}, '
                f'hu_offset_16bit={self.hu_offset_16bit}, '
                f'allow_non_ct={self.allow_non_ct}, backend_args={self.backend_args})')


__all__ = ['LoadCTSlice']
