"""CTInferencerLoader: LoadCTSlice for mmdet's inferencer inputs (paths or arrays)."""
from typing import Union

import numpy as np
from mmcv.transforms import BaseTransform

from mmdet.registry import TRANSFORMS
from ...io.ct_io import ct_array_to_bgr, is_nifti
from .load_ct_slice import LoadCTSlice


@TRANSFORMS.register_module()
class CTInferencerLoader(BaseTransform):
    """What mmdet's ``InferencerLoader`` is to ``LoadImageFromFile``, for CT slices.

    An inferencer hands the pipeline a path, an array or a dict. A path is read
    by :class:`LoadCTSlice` (PNG/JPEG, 16-bit PNG, DICOM); an array is converted
    by :func:`~mmdet_covid.io.ct_io.ct_array_to_bgr` (uint8 grey or BGR as
    stored, int16/float as HU, uint16 as HU + offset). NIfTI volumes hold many
    slices: use :func:`mmdet_covid.apis.inference_ct_slices` for them.

    Args:
        **kwargs: :class:`LoadCTSlice` arguments (window, 16-bit offset, ...).
    """

    def __init__(self, **kwargs) -> None:
        super().__init__()
        self.loader = LoadCTSlice(**kwargs)

    def transform(self, results: Union[str, np.ndarray, dict]) -> dict:
        if isinstance(results, str):
            results = dict(img_path=results)
        elif isinstance(results, np.ndarray):
            results = dict(img=results)
        if 'img' not in results:
            path = results['img_path']
            if is_nifti(path) and 'slice_index' not in results:
                raise ValueError(f'{path}: a NIfTI volume holds many slices; infer it with '
                                 'mmdet_covid.apis.inference_ct_slices or tools/infer.py')
            return self.loader(results)
        loader = self.loader
        img = ct_array_to_bgr(results['img'], '<array>', loader.window_level,
                              loader.window_width, loader.hu_offset_16bit)
        return dict(results, img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.loader!r})'
