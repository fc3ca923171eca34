"""PackSSMInputs: PackDetInputs plus the image-level label of classification slices."""
import torch

from mmdet.datasets.transforms import PackDetInputs
from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackSSMInputs(PackDetInputs):
    """Pack a sample of either task of the Single Shot Model.

    Segmentation samples are packed exactly as by :class:`PackDetInputs`
    (``gt_instances`` with boxes, labels and masks) and carry no ``gt_label``.
    Classification samples (``gt_label`` in the results) get
    ``data_sample.gt_label``, a long tensor of shape (1,), and carry no
    ``gt_instances``: the model tells the task of a batch by
    ``'gt_label' in data_sample``.
    """

    def transform(self, results: dict) -> dict:
        """Pack ``results`` into ``inputs`` (3, H, W) and ``data_samples``."""
        packed = super().transform(results)
        if 'gt_label' in results:
            sample = packed['data_samples']
            # PackDetInputs always adds (empty) instance fields; a classification
            # sample has no instance-level truth, so none is claimed.
            del sample.gt_instances
            del sample.ignored_instances
            sample.gt_label = torch.tensor([int(results['gt_label'])], dtype=torch.long)
        return packed
