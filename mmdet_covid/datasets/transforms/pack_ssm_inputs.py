"""PackSSMInputs: PackDetInputs plus the image-level label of classification slices."""
import numpy as np
import torch

from mmdet.datasets.transforms import PackDetInputs
from mmdet.registry import TRANSFORMS
from ...io.ct_io import ct_array_to_bgr


@TRANSFORMS.register_module()
class PackSSMInputs(PackDetInputs):
    """Pack a sample of either task of the Single Shot Model.

    Segmentation samples are packed exactly as by :class:`PackDetInputs`
    (``gt_instances`` with boxes, labels and masks) and carry no ``gt_label``.
    Classification samples (``gt_label`` in the results) get
    ``data_sample.gt_label``, a long tensor of shape (1,), and carry no
    ``gt_instances``: the model tells the task of a batch by
    ``'gt_label' in data_sample``.

    The model takes (H, W, 3) uint8 BGR images, which is what ``LoadCTSlice``
    gives. Any other image array is converted as ``LoadCTSlice`` converts
    files (:func:`~mmdet_covid.io.ct_io.ct_array_to_bgr`, default lung
    window): that is what mmdet's ``inference_detector`` leaves when it is
    given a 2-D grey slice or an int16 array in HU (it swaps the first step
    for ``LoadImageFromNDArray``).
    """

    def transform(self, results: dict) -> dict:
        """Pack ``results`` into ``inputs`` (3, H, W) and ``data_samples``."""
        img = results.get('img')
        if isinstance(img, np.ndarray) and (img.dtype != np.uint8 or img.ndim != 3
                                            or img.shape[2] != 3):
            results['img'] = ct_array_to_bgr(img, results.get('img_path') or '<array>')
        packed = super().transform(results)
        if 'gt_label' in results:
            sample = packed['data_samples']
            # PackDetInputs always adds (empty) instance fields; a classification
            # sample has no instance-level truth, so none is claimed.
            del sample.gt_instances
            del sample.ignored_instances
            sample.gt_label = torch.tensor([int(results['gt_label'])], dtype=torch.long)
        return packed
