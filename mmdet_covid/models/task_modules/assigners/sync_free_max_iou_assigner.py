"""mmdet's MaxIoUAssigner without a read of a device value on the host."""
import torch
from mmdet.models.task_modules.assigners import AssignResult, MaxIoUAssigner
from mmdet.registry import TASK_UTILS
from torch import Tensor


@TASK_UTILS.register_module()
class SyncFreeMaxIoUAssigner(MaxIoUAssigner):
    """:class:`MaxIoUAssigner` whose :meth:`assign_wrt_overlaps` gives the same
    assignment with element-wise operations only.

    The stock method matches low-quality priors in a Python loop over the
    ground-truth boxes that reads one value per box on the host, and writes
    through boolean masks (a ``nonzero`` each): on a GPU every one of them
    waits for the device. This one writes with ``torch.where`` and matches
    all boxes at once: a prior that several boxes claim goes to the last of
    them, as the stock loop's later writes overwrite the earlier ones. The
    same arguments as :class:`MaxIoUAssigner`.
    """

    def assign_wrt_overlaps(self, overlaps: Tensor, gt_labels: Tensor) -> AssignResult:
        """Assign w.r.t. the ``(num_gts, num_priors)`` overlaps; see the parent."""
        num_gts, num_priors = overlaps.shape
        if num_gts == 0 or num_priors == 0:
            return super().assign_wrt_overlaps(overlaps, gt_labels)
        max_overlaps, argmax_overlaps = overlaps.max(dim=0)
        gt_max_overlaps, gt_argmax_overlaps = overlaps.max(dim=1)
        gt_inds = overlaps.new_full((num_priors, ), -1, dtype=torch.long)
        if isinstance(self.neg_iou_thr, float):
            negative = (max_overlaps >= 0) & (max_overlaps < self.neg_iou_thr)
        elif isinstance(self.neg_iou_thr, tuple):
            assert len(self.neg_iou_thr) == 2
            negative = (max_overlaps >= self.neg_iou_thr[0]) & \
                (max_overlaps < self.neg_iou_thr[1])
        else:
            negative = torch.zeros_like(max_overlaps, dtype=torch.bool)
        gt_inds = torch.where(negative, 0, gt_inds)
        gt_inds = torch.where(max_overlaps >= self.pos_iou_thr, argmax_overlaps + 1, gt_inds)
        if self.match_low_quality:
            allowed = (gt_max_overlaps >= self.min_pos_iou)[:, None]
            if self.gt_max_assign_all:  # every prior at a box's highest overlap
                claims = (overlaps == gt_max_overlaps[:, None]) & allowed
            else:  # the first such prior only
                claims = torch.zeros_like(overlaps, dtype=torch.bool).scatter_(
                    1, gt_argmax_overlaps[:, None], allowed)
            numbers = torch.arange(1, num_gts + 1, device=overlaps.device)[:, None]
            last = (claims * numbers).amax(dim=0)  # 0: no box claims the prior
            gt_inds = torch.where(last > 0, last, gt_inds)
        labels = torch.where(gt_inds > 0, gt_labels[(gt_inds - 1).clamp(min=0)],
                             gt_inds.new_full((), -1))
        return AssignResult(num_gts=num_gts, gt_inds=gt_inds, max_overlaps=max_overlaps,
                            labels=labels)
