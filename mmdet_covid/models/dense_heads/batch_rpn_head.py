"""mmdet's RPN head, its proposals post-processed for all images at once and its
convolutions in bfloat16 where the detector's ``cpu_bf16`` says."""
from typing import List, Optional, Tuple

import torch
from mmdet.models.dense_heads import RPNHead
from mmdet.registry import MODELS
from mmdet.utils import InstanceList
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from ..utils import bf16_active, bf16_call, decode_per_image, nms_per_image


@MODELS.register_module()
class BatchRPNHead(RPNHead):
    """:class:`RPNHead` whose proposals come from one batched post-processing,
    its convolutions in bfloat16 on a CPU where the detector says.

    The stock head post-processes image by image: per image and level, it
    sorts the scores, keeps the ``nms_pre`` best, decodes them, drops small
    boxes and runs an NMS, each step a few tensor operations and some of them
    a read of a device value (on a GPU each costs host time, whatever the
    batch size). :meth:`predict_by_feat` does all of it but the NMS once for
    the batch (scores ``(num_imgs, num_anchors)`` sorted row by row, one
    decode, one filter), then one NMS call per image
    (:func:`~mmdet_covid.models.utils.nms_per_image`). The same proposals in
    the same order: each image's NMS gets the stock call's input. Operation
    counts are in docs/benchmarks.md.

    :meth:`forward_single` computes the three convolutions (3x3 conv,
    objectness and box-delta 1x1 convs) in bfloat16 where :attr:`cpu_bf16`
    says, as the backbone and the RoI heads of a :class:`DualTaskDetector`
    do; their outputs come back float32, so anchor decoding, mmcv's NMS
    (float32 scores only on a CPU) and the losses run as in the stock head.
    ``cpu_bf16`` is not a constructor argument: the detector's
    ``cpu_bf16`` sets it (``'off'`` on a head built alone). The same
    parameters, ``state_dict``, forward (in float32) and losses as
    :class:`RPNHead`.
    """

    # Set by DualTaskDetector.cpu_bf16, the one precision switch (see bf16_call).
    cpu_bf16: str = 'off'

    def forward_single(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Objectness logits and box deltas of one level, in bfloat16 arithmetic
        where ``cpu_bf16`` says (float32 out)."""
        return bf16_call(super().forward_single, x,
                         enabled=bf16_active(self.cpu_bf16, self.training, x))

    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Tensor],
                        score_factors: Optional[List[Tensor]] = None,
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: Optional[ConfigDict] = None,
                        rescale: bool = False,
                        with_nms: bool = True) -> InstanceList:
        """Proposals of every image; see :meth:`RPNHead.predict_by_feat`.

        Returns:
            list[:obj:`InstanceData`]: per image ``bboxes`` ``(n, 4)``,
            ``scores`` ``(n, )`` (descending) and ``labels`` (int64 zeros;
            mmdet gives float32 ones to an image without proposals).
        """
        assert with_nms, '`with_nms` must be True in RPNHead'
        cfg = self.test_cfg if cfg is None else cfg
        if not cfg.max_per_img >= 1:  # mmdet would slice [:-1] or [:0]
            raise ValueError(f'{type(self).__name__}: the RPN\'s max_per_img must be >= 1 '
                             f'(model.test_cfg.rpn / train_cfg.rpn_proposal), got '
                             f'{cfg.max_per_img!r}')
        nms_pre = cfg.get('nms_pre', -1)
        num_imgs = cls_scores[0].size(0)
        priors = self.prior_generator.grid_priors(
            [s.shape[-2:] for s in cls_scores], dtype=cls_scores[0].dtype,
            device=cls_scores[0].device)
        level_scores, level_deltas, level_priors, level_ids = [], [], [], []
        for level, (score, delta, prior) in enumerate(zip(cls_scores, bbox_preds, priors)):
            # (N, A * C, H, W) -> (N, H * W * A, C), the stock per-image order
            score = score.detach().permute(0, 2, 3, 1).reshape(
                num_imgs, -1, self.cls_out_channels)
            delta = delta.detach().permute(0, 2, 3, 1).reshape(
                num_imgs, -1, self.bbox_coder.encode_size)
            score = score.sigmoid() if self.use_sigmoid_cls else score.softmax(-1)[..., :-1]
            score = score.squeeze(-1)
            if 0 < nms_pre < score.size(1):
                score, order = score.sort(dim=1, descending=True)  # as the stock head
                score, order = score[:, :nms_pre], order[:, :nms_pre]
                delta = delta.gather(1, order[..., None].expand(-1, -1, delta.size(-1)))
                prior = prior[order]
            else:
                prior = prior.expand(num_imgs, -1, -1)
            level_scores.append(score)
            level_deltas.append(delta)
            level_priors.append(prior)
            if len(cls_scores) > 1:  # the stock head keeps levels apart in its NMS
                level_ids.append(score.new_full(score.shape, level, dtype=torch.long))
        scores = torch.cat(level_scores, 1)
        priors, deltas = torch.cat(level_priors, 1), torch.cat(level_deltas, 1)
        counts = [priors.size(1)] * num_imgs  # candidates per image
        bboxes = decode_per_image(
            self.bbox_coder, priors.flatten(0, 1), deltas.flatten(0, 1), counts,
            [meta['img_shape'] for meta in batch_img_metas]).view(num_imgs, counts[0], -1)
        if rescale:
            factors = bboxes.new_tensor(
                [[1 / s for s in meta['scale_factor']] * 2 for meta in batch_img_metas])
            bboxes = bboxes * factors[:, None, :]
        ids = torch.cat(level_ids, 1).flatten() if level_ids else None
        bboxes, scores = bboxes.flatten(0, 1), scores.flatten()
        if cfg.get('min_bbox_size', -1) >= 0:
            valid = ((bboxes[:, 2] - bboxes[:, 0] > cfg.min_bbox_size) &
                     (bboxes[:, 3] - bboxes[:, 1] > cfg.min_bbox_size))
            counts = valid.view(num_imgs, -1).sum(1).tolist()
            if sum(counts) < valid.numel():  # (mmdet too filters only then)
                valid = valid.nonzero().squeeze(1)
                bboxes, scores = bboxes[valid], scores[valid]
                ids = None if ids is None else ids[valid]
        results_list = []
        for dets, _ in nms_per_image(bboxes, scores, ids, counts, cfg.nms, cfg.max_per_img):
            results = InstanceData()
            results.bboxes = dets[:, :-1]
            results.scores = dets[:, -1]
            results.labels = dets.new_zeros(len(dets), dtype=torch.long)
            results_list.append(results)
        return results_list
