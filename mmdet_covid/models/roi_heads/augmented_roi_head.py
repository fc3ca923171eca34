"""The augmented RoI layer of the SSM (paper section III-C, Fig. 2)."""
import copy
from contextlib import contextmanager
from typing import Iterator, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2roi
from mmdet.utils import ConfigType, InstanceList
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor, nn

from ..utils import bf16_active, bf16_call, decode_per_image, nms_per_image


@MODELS.register_module()
class AugmentedRoIHead(StandardRoIHead):
    """RoI head with a segmentation branch and a frozen classification branch.

    The segmentation branch is the stock Mask R-CNN box + mask branch and is
    the only one trained. The classification ("image") branch,
    ``image_bbox_head``, has the identical shape; its parameters have
    ``requires_grad=False`` and only ever change through
    :meth:`copy_seg_weights` (when is a training-hook choice). It scores all
    RPN proposals and :class:`RoIBatchSelection` turns its predictions into
    the ranked ``B x 5`` batch that feeds the image classifier S.

    With ``augmented=False`` this is the paper's *base* RoI layer (section
    III-B): there is no second branch and S reads the (detached) segmentation
    branch.

    :meth:`predict_bbox` post-processes the boxes of all images at once
    (mmdet's goes image by image); the same detections.

    The box heads and the mask head compute in bfloat16 on a CPU
    (:func:`bf16_call`; RoIAlign stays float32) where :attr:`cpu_bf16` says.
    It is not a constructor argument: the :class:`DualTaskDetector`'s
    ``cpu_bf16`` sets it (``'off'`` on a head built alone).

    Args:
        augmented (bool): Build the second, frozen branch. Defaults to True.
        roi_batch_selection (dict): Config of :class:`RoIBatchSelection`.
        **kwargs: :class:`StandardRoIHead` arguments.
    """

    # Set by DualTaskDetector.cpu_bf16, the one precision switch (see bf16_call).
    cpu_bf16: str = 'off'

    def __init__(self,
                 augmented: bool = True,
                 roi_batch_selection: ConfigType = dict(type='RoIBatchSelection'),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if not self.with_bbox:
            raise ValueError('AugmentedRoIHead needs a bbox_head: the image '
                             'branch is a copy of it')
        self.augmented = augmented
        self.roi_batch_selection = MODELS.build(roi_batch_selection)
        self._kept: Optional[list] = None  # see keeping_box_forward
        if augmented:
            self.image_bbox_head = MODELS.build(copy.deepcopy(kwargs['bbox_head']))
            self.image_bbox_head.requires_grad_(False)

    @property
    def image_head(self) -> nn.Module:
        """The box head that scores proposals for the classifier S."""
        return self.image_bbox_head if self.augmented else self.bbox_head

    def init_weights(self) -> None:
        """Initialise the segmentation branch, then copy it to the image one."""
        super().init_weights()
        if self.augmented:
            self.copy_seg_weights()

    @torch.no_grad()
    def copy_seg_weights(self) -> None:
        """Copy the segmentation box head's weights into the image branch."""
        if not self.augmented:
            return
        self.image_bbox_head.load_state_dict(self.bbox_head.state_dict())

    def _image_forward(self, bbox_feats: Tensor) -> Tuple[Tensor, Tensor]:
        """Class logits and box deltas of the image branch.

        Its weights never train: ``requires_grad=False`` (the augmented
        branch), or the classification step freezes them (the base
        variant's shared branch, see ``DualTaskDetector.slice_loss``).
        """
        return bf16_call(self.image_head, bbox_feats, enabled=self._bf16(bbox_feats))

    def _bf16(self, x: Tensor) -> bool:
        return bf16_active(self.cpu_bf16, self.training, x)

    def _select(self, rois: Tensor, cls_score: Tensor, bbox_pred: Tensor,
                batch_img_metas: List[dict]) -> Tensor:
        return self.roi_batch_selection(
            rois, cls_score, bbox_pred, self.image_head.bbox_coder,
            [meta['img_shape'] for meta in batch_img_metas])

    def _box_features(self, x: Tuple[Tensor], rois: Tensor) -> Tensor:
        """RoIAlign for the box heads, made contiguous (NCHW) once: the heads
        flatten the features in that order (from channels-last features each
        flatten would copy), and both branches read the same features.

        Where the box heads compute in bfloat16 (``cpu_bf16``), the same copy
        also casts to bfloat16: one pass over the features instead of a copy
        and then one autocast cast per head (their first layer would cast its
        input to bfloat16 anyway, so the numbers are the same).
        """
        feats = self.bbox_roi_extractor(x[:self.bbox_roi_extractor.num_inputs], rois)
        if self._bf16(feats):
            return feats.to(torch.bfloat16, memory_format=torch.contiguous_format)
        return feats.contiguous()

    def _bbox_forward(self, x: Tuple[Tensor], rois: Tensor) -> dict:
        """The stock box forward of the segmentation branch, on
        :meth:`_box_features`; inside :meth:`keeping_box_forward` it also keeps
        the RoIs and their results."""
        bbox_feats = self._box_features(x, rois)
        if self.with_shared_head:
            bbox_feats = self.shared_head(bbox_feats)
        cls_score, bbox_pred = bf16_call(self.bbox_head, bbox_feats,
                                         enabled=self._bf16(bbox_feats))
        results = dict(cls_score=cls_score, bbox_pred=bbox_pred, bbox_feats=bbox_feats)
        if self._kept is not None:
            self._kept.append((rois, results))
        return results

    def predict_bbox(self, x: Tuple[Tensor], batch_img_metas: List[dict],
                     rpn_results_list: InstanceList, rcnn_test_cfg: ConfigDict,
                     rescale: bool = False) -> InstanceList:
        """The stock box prediction, its post-processing done for the whole
        batch at once: one softmax, one decode, one score filter, then one NMS
        call per image (:func:`~mmdet_covid.models.utils.nms_per_image`).
        mmdet's does each of them image by image: tensor operations and reads
        of device values for every image (counts in docs/benchmarks.md). The
        same detections in the same order. Heads the batched path does not
        cover (custom class activations, no box regression, box types other
        than ``'hbox'``, no test config) take the stock path."""
        head = self.bbox_head
        no_proposal = sum(len(res) for res in rpn_results_list) == 0
        if no_proposal and self._kept is not None:
            self._kept.append((None, None))  # the stock guard runs no box forward
        if rcnn_test_cfg is None or head.custom_cls_channels or not head.with_reg or \
                head.predict_box_type != 'hbox' or no_proposal:
            return super().predict_bbox(x, batch_img_metas, rpn_results_list,
                                        rcnn_test_cfg, rescale)
        rois = bbox2roi([res.bboxes for res in rpn_results_list])
        results = self._bbox_forward(x, rois)
        return self._post_process_boxes(
            rois, results['cls_score'], results['bbox_pred'],
            [len(res) for res in rpn_results_list], batch_img_metas, rcnn_test_cfg, rescale)

    def _post_process_boxes(self, rois: Tensor, cls_score: Tensor, bbox_pred: Tensor,
                            counts: List[int], batch_img_metas: List[dict],
                            rcnn_test_cfg: ConfigDict, rescale: bool) -> InstanceList:
        """Detections of every image: mmdet's ``BBoxHead.predict_by_feat`` and
        its ``multiclass_nms``, each step on all images' RoIs at once
        (``counts`` per image, image after image)."""
        head = self.bbox_head
        scores = F.softmax(cls_score, dim=-1)
        num_rois, num_cls = scores.size(0), scores.size(1) - 1
        reg_cls = 1 if head.reg_class_agnostic else num_cls
        boxes = decode_per_image(
            head.bbox_coder, rois[:, 1:].repeat_interleave(reg_cls, dim=0),
            bbox_pred.view(-1, head.bbox_coder.encode_size), [n * reg_cls for n in counts],
            [meta['img_shape'] for meta in batch_img_metas])
        img_inds = rois[:, 0].long()
        if rescale:
            factors = boxes.new_tensor(
                [[1 / s for s in meta['scale_factor']] * 2 for meta in batch_img_metas])
            boxes = boxes * factors[img_inds.repeat_interleave(reg_cls)]
        boxes = boxes.view(num_rois, reg_cls, 4).expand(-1, num_cls, -1).reshape(-1, 4)
        scores = scores[:, :-1].reshape(-1)
        valid = (scores > rcnn_test_cfg.score_thr).nonzero().squeeze(1)
        kept_counts = [len(valid)] if len(counts) == 1 else torch.bincount(
            img_inds.repeat_interleave(num_cls)[valid], minlength=len(counts)).tolist()
        # one class: one NMS group per image
        labels = None if num_cls == 1 else \
            torch.arange(num_cls, device=scores.device).repeat(num_rois)[valid]
        results_list, start = [], 0
        for (dets, keep), count in zip(
                nms_per_image(boxes[valid], scores[valid], labels, kept_counts,
                              rcnn_test_cfg.nms, rcnn_test_cfg.max_per_img), kept_counts):
            results = InstanceData()
            results.bboxes = dets[:, :-1]
            results.scores = dets[:, -1]
            results.labels = keep.new_zeros(len(keep)) if labels is None else \
                labels[start:start + count][keep]
            results_list.append(results)
            start += count
        return results_list

    def _mask_forward(self, x: Tuple[Tensor], rois: Optional[Tensor] = None,
                      pos_inds: Optional[Tensor] = None,
                      bbox_feats: Optional[Tensor] = None) -> dict:
        """The stock mask forward, its mask head in bfloat16 where ``cpu_bf16``
        says (RoIAlign computes in float32 under autocast)."""
        return bf16_call(super()._mask_forward, x, rois, pos_inds, bbox_feats,
                         enabled=self._bf16(x[0]))

    @contextmanager
    def keeping_box_forward(self) -> Iterator[list]:
        """Keep the box forward of the stock paths run inside (``predict``,
        ``forward``: one over all proposals) for :meth:`roi_batch_from_kept`,
        so that S's RoI batch comes from the same RoI features (one RoIAlign).

        Why a side channel: it leaves mmdet's ``TwoStageDetector.predict`` and
        ``_forward`` and ``StandardRoIHead.predict`` and ``forward`` as they are
        (the alternative, a head prediction that returns detections and RoI
        batch together, restates those four methods). The price is a contract
        the stock code does not know of, so it is checked: exactly one box
        forward (or the stock guard for no proposal at all) per block,
        :meth:`roi_batch_from_kept` raises otherwise.

        Example::

            with roi_head.keeping_box_forward() as kept:
                results_list = roi_head.predict(x, rpn_results_list, samples)
            roi_batch = roi_head.roi_batch_from_kept(kept, [s.metainfo for s in samples])
        """
        self._kept = []
        try:
            yield self._kept
        finally:
            self._kept = None

    def roi_batch_from_kept(self, kept: list, batch_img_metas: List[dict]) -> Tensor:
        """The RoI batch of the box forward kept by :meth:`keeping_box_forward`:
        the image branch on its RoI features (the base variant: its outputs).
        No image had a proposal (the stock guard returned early): zero rows, as
        :class:`RoIBatchSelection` gives an image without one.

        Raises:
            RuntimeError: the box forward ran zero times or more than once.

        Returns:
            Tensor: ``(num_imgs, B, 5)``.
        """
        if len(kept) != 1:
            raise RuntimeError(
                f'{type(self).__name__}.roi_batch_from_kept: the box forward ran {len(kept)} '
                'times inside keeping_box_forward; expected once (the stock predict or '
                'forward over all proposals of the batch). A RoI head path that skips '
                '_bbox_forward or calls it per image needs its own RoI batch (roi_batch)')
        rois, results = kept[0]
        if results is None:  # no proposal in any image
            param = next(self.bbox_head.parameters())
            return param.new_zeros(len(batch_img_metas), self.roi_batch_selection.num_rois, 5)
        if self.augmented:
            cls_score, bbox_pred = self._image_forward(results['bbox_feats'])
        else:
            cls_score, bbox_pred = results['cls_score'], results['bbox_pred']
        return self._select(rois, cls_score, bbox_pred, batch_img_metas)

    def roi_batch(self, x: Tuple[Tensor], rpn_results_list: InstanceList,
                  batch_img_metas: List[dict]) -> Tensor:
        """The ranked RoI batch of every image (the classification step).

        All proposals go through the image branch (no sampling); gradients
        reach the features ``x``. They reach them only through the rows S
        reads, at most ``B`` proposals per image of the ~1,000: where ``x``
        needs gradients, the branch first runs over all proposals without
        autograd to choose the rows (:meth:`RoIBatchSelection.select`), then
        again, with it, over the chosen proposals alone
        (:meth:`RoIBatchSelection.gather`). The same rows and gradients (up to
        float rounding); RoIAlign and the box head backward over 128
        proposals instead of 1,000 (timing in docs/benchmarks.md). That path
        calls ``select`` and ``gather``, not the selection module itself: a
        forward hook on ``roi_batch_selection`` sees inference and the
        no-gradient path only.

        Returns:
            Tensor: ``(num_imgs, B, 5)``.
        """
        rois = bbox2roi([res.bboxes for res in rpn_results_list])
        if not (torch.is_grad_enabled() and any(f.requires_grad for f in x)):
            cls_score, bbox_pred = self._image_forward(self._box_features(x, rois))
            return self._select(rois, cls_score, bbox_pred, batch_img_metas)
        selection, coder = self.roi_batch_selection, self.image_head.bbox_coder
        img_shapes = [meta['img_shape'] for meta in batch_img_metas]
        with torch.no_grad():
            cls_score, bbox_pred = self._image_forward(self._box_features(x, rois))
        proposal, label, found = selection.select(rois, cls_score, bbox_pred, coder, img_shapes)
        if rois.size(0) > 0:  # the chosen proposals, sorted; proposal indexes into them
            chosen, proposal = torch.unique(proposal, return_inverse=True)
            rois = rois[chosen]
        cls_score, bbox_pred = self._image_forward(self._box_features(x, rois))
        return selection.gather(rois, cls_score, bbox_pred, coder, img_shapes, proposal,
                                label, found)
