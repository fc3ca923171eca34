"""RoIBatchSelection: the ranked B x 5 batch of RoI predictions that feeds S."""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmdet.registry import MODELS
from torch import Tensor

from ..utils import nms_per_image

ROW_CONTENTS = ('deltas', 'boxes')


@MODELS.register_module()
class RoIBatchSelection(BaseModule):
    """Select the top-``num_rois`` RoI predictions of every image.

    Follows the reference implementation (COVID-CT-Mask-Net, SSM): the class
    logits of *all* proposals are soft-maxed and the background column is
    dropped, boxes are decoded and clipped to the image, degenerate boxes are
    removed, an NMS runs per image and class, and the ``num_rois`` best
    predictions are kept in descending score order. An image with fewer
    survivors is padded to exactly ``num_rois`` rows by repeating its rows in
    place (row ``j`` takes survivor ``floor(j * n / num_rois)``), so the
    ranking is kept and the same input always gives the same output.

    Everything is vectorised over the images of the batch and over the boxes
    but the NMS, one call per image
    (:func:`~mmdet_covid.models.utils.nms_per_image`), and one gather for the
    output.

    Args:
        num_rois (int): Rows per image, ``B`` in the paper. Defaults to 128.
        nms_iou (float): IoU threshold of the NMS. Defaults to 0.75.
        score_thr (float): Keep predictions scoring above it. The reference
            uses -0.01, i.e. keeps everything. Defaults to -0.01.
        min_area (float): Boxes with an area <= this are dropped.
            Defaults to 1e-5.
        row_content (str): The 4 values after the score in each row:
            ``'deltas'`` are the box-regression outputs of the predicted class
            (what the reference code feeds S); ``'boxes'`` are the decoded
            ``x1, y1, x2, y2`` divided by the image width/height.
            Defaults to ``'deltas'``.
        score_weighted (bool): Multiply the 4 values of each row by its
            score, so that a row reads ``(s, s * v1, ..., s * v4)``: the many
            rows of background proposals (scores near 0) then carry nothing
            but their score instead of the position of an arbitrary
            proposal. Not in the paper or the reference code. On the phantom
            it lifts S trained offline on fixed RoI batches of decoded boxes
            (replay minibatch) from weighted F1 0.73-0.79 to 0.85-0.86 after
            200 steps and from 0.82-0.85 to 0.90-0.91 after 1,800
            (docs/models.md, docs/results/phantom_roi_batch_probe.json).
            Defaults to False.
    """

    def __init__(self,
                 num_rois: int = 128,
                 nms_iou: float = 0.75,
                 score_thr: float = -0.01,
                 min_area: float = 1e-5,
                 row_content: str = 'deltas',
                 score_weighted: bool = False,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        if not isinstance(num_rois, int) or num_rois < 1:
            raise ValueError(
                f'RoIBatchSelection: num_rois (B) must be an integer >= 1, '
                f'got num_rois={num_rois!r}')
        if row_content not in ROW_CONTENTS:
            raise ValueError(
                f'RoIBatchSelection: row_content must be one of '
                f'{ROW_CONTENTS}, got row_content={row_content!r}')
        if not 0.0 < nms_iou <= 1.0:
            raise ValueError(
                f'RoIBatchSelection: nms_iou must be in (0, 1], got {nms_iou!r}')
        self.num_rois = num_rois
        self.nms_iou = nms_iou
        self.score_thr = score_thr
        self.min_area = min_area
        self.row_content = row_content
        self.score_weighted = score_weighted

    @property
    def feature_dim(self) -> int:
        """Length of the flattened output of one image (``B * 5``)."""
        return self.num_rois * 5

    def forward(self, rois: Tensor, cls_score: Tensor, bbox_pred: Tensor,
                bbox_coder, img_shapes: Sequence[Tuple[int, int]]) -> Tensor:
        """Build the ranked batch of every image.

        Args:
            rois (Tensor): ``(N, 5)`` proposals of all images, first column
                the image index (as produced by ``bbox2roi``).
            cls_score (Tensor): ``(N, C + 1)`` class logits, background last
                (mmdet's convention).
            bbox_pred (Tensor): ``(N, 4 * C)`` or ``(N, 4)`` (class-agnostic)
                box regression outputs.
            bbox_coder: The box head's coder, used to decode ``bbox_pred``.
            img_shapes (Sequence[tuple]): ``(h, w)`` of every image.

        Returns:
            Tensor: ``(num_imgs, num_rois, 5)``; each row is
            ``(score, v1, v2, v3, v4)``, rows in descending score order. An
            image without any valid prediction gets rows of zeros.
        """
        cand = self._candidates(rois, cls_score, bbox_pred, bbox_coder, img_shapes)
        return self._rows(cand, *self._select(rois, cand, len(img_shapes)))

    def select(self, rois: Tensor, cls_score: Tensor, bbox_pred: Tensor, bbox_coder,
               img_shapes: Sequence[Tuple[int, int]]) -> Tuple[Tensor, Tensor, Tensor]:
        """Which prediction each row of :meth:`forward` holds, without the rows.

        Returns:
            tuple: ``proposal`` and ``label``, ``(num_imgs, num_rois)`` indices
            into ``rois`` and the classes, and ``found``, ``(num_imgs, )``:
            whether the image has a valid prediction (rows of an image
            without one are zeros, whatever its indices say).
        """
        with torch.no_grad():
            cand = self._candidates(rois, cls_score, bbox_pred, bbox_coder, img_shapes)
            src, found = self._select(rois, cand, len(img_shapes))
        num_cls = cand['scores'].size(1)
        return torch.div(src, num_cls, rounding_mode='floor'), src % num_cls, found

    def gather(self, rois: Tensor, cls_score: Tensor, bbox_pred: Tensor, bbox_coder,
               img_shapes: Sequence[Tuple[int, int]], proposal: Tensor, label: Tensor,
               found: Tensor) -> Tensor:
        """The rows of :meth:`forward` from the predictions :meth:`select`
        chose; ``rois``, ``cls_score`` and ``bbox_pred`` may be any subset of
        the proposals that contains the chosen ones, ``proposal`` indexing
        into it. On the same inputs, ``gather(..., *select(...))`` equals
        :meth:`forward`."""
        cand = self._candidates(rois, cls_score, bbox_pred, bbox_coder, img_shapes)
        return self._rows(cand, proposal * cand['scores'].size(1) + label, found)

    def _candidates(self, rois: Tensor, cls_score: Tensor, bbox_pred: Tensor, bbox_coder,
                    img_shapes: Sequence[Tuple[int, int]]) -> dict:
        """Every (proposal, class) prediction: scores ``(N, C)``, deltas and
        boxes clipped to the proposal's image ``(N, C, 4)``, and the image's
        ``(w, h, w, h)`` of each proposal ``(N, 1, 4)``."""
        num_props, num_cls = cls_score.size(0), cls_score.size(1) - 1
        scores = F.softmax(cls_score, dim=-1)[:, :num_cls]  # (N, C)
        # (explicit sizes: an image without proposals has 0 rows)
        deltas = bbox_pred.view(num_props, bbox_pred.size(1) // 4, 4).expand(-1, num_cls, -1)
        priors = rois[:, None, 1:].expand(-1, num_cls, -1)
        boxes = bbox_coder.decode(priors.reshape(-1, 4), deltas.reshape(-1, 4))
        boxes = boxes.view(num_props, num_cls, 4)
        # Clip to each proposal's own image.
        hw = rois.new_tensor([tuple(s[:2]) for s in img_shapes]).view(-1, 2)
        max_xy = hw.flip(1)[rois[:, 0].long()].repeat(1, 2)[:, None, :]  # (N, 1, 4): w,h,w,h
        boxes = torch.minimum(boxes.clamp(min=0), max_xy)
        return dict(scores=scores, deltas=deltas, boxes=boxes, max_xy=max_xy)

    def _select(self, rois: Tensor, cand: dict, num_imgs: int) -> Tuple[Tensor, Tensor]:
        """``(num_imgs, num_rois)`` indices of the rows into the flattened
        (proposal, class) candidates, and whether each image has any."""
        num_props, num_cls = cand['scores'].shape
        labels = torch.arange(num_cls, device=rois.device).expand(num_props, -1).reshape(-1)
        img_inds = rois[:, 0].long()[:, None].expand(-1, num_cls).reshape(-1)
        boxes, scores = cand['boxes'].reshape(-1, 4), cand['scores'].reshape(-1)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        valid = ((area > self.min_area) & (scores > self.score_thr)).nonzero().squeeze(1)
        if valid.numel() == 0:  # no valid prediction in the whole batch
            return (rois.new_zeros(num_imgs, self.num_rois, dtype=torch.long),
                    rois.new_zeros(num_imgs, dtype=torch.bool))
        # One NMS call per image, classes kept apart within it, on the valid
        # candidates image after image (as bbox2roi groups proposals; the
        # stable sort only guards other orders). Each image's survivors come
        # in descending score order. The boxes go in detached: NMS only picks
        # indices.
        if num_imgs == 1:
            counts = [len(valid)]
        else:
            valid = valid[torch.sort(img_inds[valid], stable=True)[1]]
            counts = torch.bincount(img_inds[valid], minlength=num_imgs).tolist()
        kept = nms_per_image(
            boxes[valid].detach(), scores[valid].detach(),
            None if num_cls == 1 else labels[valid], counts,
            dict(type='nms', iou_threshold=self.nms_iou))
        keep = torch.cat([img_valid[img_keep] for img_valid, (_, img_keep)
                          in zip(valid.split(counts), kept)])
        counts = keep.new_tensor([len(img_keep) for _, img_keep in kept])
        starts = torch.cumsum(counts, 0) - counts

        # Row j of image i takes its j-th survivor, or survivor
        # floor(j * n_i / B) when n_i < B (padding by repetition, in order).
        j = torch.arange(self.num_rois, device=rois.device)[None, :]
        n = counts[:, None]
        offset = torch.where(n >= self.num_rois, j, torch.div(j * n, self.num_rois,
                                                              rounding_mode='floor'))
        # (An image without survivors reads a neighbour's rows; zeroed in _rows.)
        return keep[(starts[:, None] + offset).clamp(max=keep.numel() - 1)], counts > 0

    def _rows(self, cand: dict, src: Tensor, found: Tensor) -> Tensor:
        """The ``(num_imgs, num_rois, 5)`` rows of the candidates ``src``."""
        num_cls = cand['scores'].size(1)
        if cand['scores'].numel() == 0:  # no proposal at all: nothing to index
            return cand['scores'].new_zeros(*src.shape, 5)
        if self.row_content == 'deltas':
            values = cand['deltas'].reshape(-1, 4)[src]
        else:
            values = cand['boxes'].reshape(-1, 4)[src] / cand['max_xy'].view(-1, 4)[
                torch.div(src, num_cls, rounding_mode='floor')]
        row_scores = cand['scores'].reshape(-1)[src][..., None]
        if self.score_weighted:
            values = values * row_scores
        rows = torch.cat([row_scores, values], dim=-1)
        # Images without a single valid prediction get zero rows (exact zeros
        # even where their neighbour's rows read NaN).
        return torch.where(found[:, None, None], rows, rows.new_zeros(()))
