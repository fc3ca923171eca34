"""FCNMaskHead whose mask pasting is vectorised over all masks of an image."""
import numpy as np
import torch
from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmdet.registry import MODELS
from mmengine.config import ConfigDict
from torch import Tensor

from ...utils import paste_masks


@MODELS.register_module()
class BatchPasteMaskHead(FCNMaskHead):
    """:class:`FCNMaskHead` with a batched mask paste.

    On a CPU the stock head pastes masks one at a time in a Python loop; this
    head pastes all masks of an image in one vectorised call
    (:func:`mmdet_covid.models.utils.paste_masks`) with the same bilinear
    interpolation, so the output is the same. Only the paste is overridden.
    On CUDA the stock head already pastes in large chunks without host
    synchronisation (it was faster on an H100), so CUDA tensors go to it.
    """

    def _predict_by_feat_single(self,
                                mask_preds: Tensor,
                                bboxes: Tensor,
                                labels: Tensor,
                                img_meta: dict,
                                rcnn_test_cfg: ConfigDict,
                                rescale: bool = False,
                                activate_map: bool = False) -> Tensor:
        """Paste the masks of one image; see the parent for the arguments.

        Like the parent, ``rescale=True`` rescales ``bboxes`` *in place*: the
        RoI head relies on it to return boxes in the original image space.

        Returns:
            Tensor: ``(n, img_h, img_w)`` bool masks.
        """
        if mask_preds.is_cuda:
            return super()._predict_by_feat_single(
                mask_preds, bboxes, labels, img_meta, rcnn_test_cfg, rescale, activate_map)
        scale_factor = bboxes.new_tensor(img_meta['scale_factor']).repeat((1, 2))
        img_h, img_w = img_meta['ori_shape'][:2]
        mask_preds = mask_preds.sigmoid() if not activate_map \
            else bboxes.new_tensor(mask_preds)
        if rescale:
            bboxes /= scale_factor
        else:
            img_h = int(np.round(img_h * scale_factor[0, 1].item()))
            img_w = int(np.round(img_w * scale_factor[0, 0].item()))
        if self.class_agnostic:
            mask_preds = mask_preds[:, 0]
        else:
            mask_preds = mask_preds[torch.arange(len(mask_preds)), labels]
        return paste_masks(mask_preds, bboxes, img_h, img_w,
                           rcnn_test_cfg.mask_thr_binary)
