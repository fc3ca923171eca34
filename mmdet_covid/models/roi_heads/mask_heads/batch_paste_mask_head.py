"""FCNMaskHead fast on a CPU: its per-pixel layers as two matrix products, a batched
paste."""
from typing import List, Optional, Tuple, Union

import numpy as np
import torch
from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmdet.models.utils import empty_instances
from mmdet.registry import MODELS
from mmdet.utils import InstanceList
from mmengine.config import ConfigDict
import torch.nn.functional as F
from torch import Tensor, nn

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
    Either way :meth:`predict_by_feat` pastes the masks of all images of a
    batch in one call where the images share their size and scale (the
    stock head calls once per image).

    After its convolutions, the stock head upsamples with a 2x2 stride-2
    deconvolution, applies ReLU and a 1x1 convolution to the class logits:
    all three act on each pixel alone. :meth:`forward` computes them as two
    matrix products on the pixels of the convolutions' output, in the
    deconvolution's own output order, and reorders only the small logits map
    (the same parameters and ``state_dict``; outputs equal up to float
    rounding). On a CPU the stock layers spend most of their time writing and
    reordering the ``(N, C, 2H, 2W)`` upsampled map (timings in
    docs/benchmarks.md).
    """

    def _fused_upsample(self) -> bool:
        """Whether the upsampling is a deconvolution whose kernel equals its
        stride, followed by ReLU and 1x1 logits: the case :meth:`forward` fuses."""
        up, logits = self.upsample, self.conv_logits
        return (self.upsample_method == 'deconv' and isinstance(up, nn.ConvTranspose2d)
                and up.kernel_size == up.stride and up.padding == (0, 0)
                and up.output_padding == (0, 0) and up.groups == 1
                and up.dilation == (1, 1) and isinstance(logits, nn.Conv2d)
                and logits.kernel_size == (1, 1) and logits.groups == 1
                and logits.stride == (1, 1) and logits.padding == (0, 0))

    def forward(self, x: Tensor) -> Tensor:
        """Mask logits ``(N, num_classes, 2H, 2W)`` of RoI features ``(N, C, H, W)``."""
        if x.numel() == 0 or not self._fused_upsample():
            return super().forward(x)
        for conv in self.convs:
            x = conv(x)
        n, c, h, w = x.shape
        up, logits = self.upsample, self.conv_logits
        kh, kw = up.kernel_size
        mid, out = up.out_channels, logits.out_channels
        # deconvolution weight (C, mid, kh, kw) -> columns ordered (a, b, mid): every
        # pixel's (kh * kw) output positions, each a row of `mid` channels
        weight = up.weight.permute(0, 2, 3, 1).reshape(c, kh * kw * mid)
        pixels = x.permute(0, 2, 3, 1).reshape(n * h * w, c)
        if up.bias is not None:
            hidden = torch.addmm(up.bias.repeat(kh * kw), pixels, weight)
        else:
            hidden = pixels @ weight
        hidden = self.relu(hidden).view(n * h * w * kh * kw, mid)
        masks = F.linear(hidden, logits.weight.view(out, mid), logits.bias)
        # (n, h, w, a, b, out) -> (n, out, h, a, w, b) -> (n, out, kh h, kw w)
        masks = masks.view(n, h, w, kh, kw, out).permute(0, 5, 1, 3, 2, 4)
        return masks.reshape(n, out, h * kh, w * kw)

    def predict_by_feat(self, mask_preds: Tuple[Tensor], results_list: InstanceList,
                        batch_img_metas: List[dict], rcnn_test_cfg: ConfigDict,
                        rescale: bool = False, activate_map: bool = False) -> InstanceList:
        """The stock masks of every image, pasted in one call for all images
        with detections where they share ``ori_shape`` and ``scale_factor``
        (otherwise, or for test-time augmentation's ``activate_map``, image by
        image as the stock head). Boxes are rescaled as the stock head does
        (``rescale=True``: to the original image). Each image's masks and
        boxes are tensors of their own, as the stock head's: a view into the
        batch's would keep, and pickle (``DumpResults``), the whole batch."""
        full = [i for i, res in enumerate(results_list) if len(res) > 0]
        sizes = {(tuple(batch_img_metas[i]['ori_shape'][:2]),
                  tuple(batch_img_metas[i]['scale_factor'])) for i in full}
        if activate_map or len(full) < 2 or len(sizes) > 1:
            return super().predict_by_feat(mask_preds, results_list, batch_img_metas,
                                           rcnn_test_cfg, rescale, activate_map)
        counts = [len(results_list[i]) for i in full]
        bboxes = torch.cat([results_list[i].bboxes for i in full])
        args = (torch.cat([mask_preds[i] for i in full]), bboxes,
                torch.cat([results_list[i].labels for i in full]), batch_img_metas[full[0]],
                rcnn_test_cfg, rescale)  # both rescale `bboxes` in place
        if bboxes.is_cuda:  # mmdet's paste; each image's masks then get their own memory
            masks = [m.clone() for m in
                     super()._predict_by_feat_single(*args).split(counts)]
        else:
            masks = self._paste(*args, counts=counts)
        for i, img_masks, img_bboxes in zip(full, masks, bboxes.split(counts)):
            results_list[i].masks = img_masks
            results_list[i].bboxes = img_bboxes.clone()  # not a view of the batch's
        for i, results in enumerate(results_list):
            if len(results) == 0:
                results_list[i] = empty_instances(
                    [batch_img_metas[i]], results.bboxes.device, task_type='mask',
                    instance_results=[results],
                    mask_thr_binary=rcnn_test_cfg.mask_thr_binary)[0]
        return results_list

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
        return self._paste(mask_preds, bboxes, labels, img_meta, rcnn_test_cfg, rescale,
                           activate_map)

    def _paste(self, mask_preds: Tensor, bboxes: Tensor, labels: Tensor, img_meta: dict,
               rcnn_test_cfg: ConfigDict, rescale: bool = False, activate_map: bool = False,
               counts: Optional[List[int]] = None) -> Union[Tensor, List[Tensor]]:
        """:meth:`_predict_by_feat_single` on a CPU (:func:`paste_masks`); with
        ``counts``, the masks of several images that share ``img_meta``'s size
        and scale, one tensor per image."""
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
                           rcnn_test_cfg.mask_thr_binary, counts)
