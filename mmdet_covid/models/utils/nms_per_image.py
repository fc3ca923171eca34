"""mmcv's batched NMS of every image of a batch alone, in one loop of one call each."""
from typing import List, Optional, Sequence, Tuple

import torch
from mmcv.ops import batched_nms
from torch import Tensor


def nms_per_image(boxes: Tensor, scores: Tensor, idxs: Optional[Tensor],
                  counts: Sequence[int], nms_cfg: dict,
                  max_per_img: int = -1) -> List[Tuple[Tensor, Tensor]]:
    """Run ``mmcv.ops.batched_nms`` on the candidates of each image alone.

    The candidates of all images lie image after image: the first
    ``counts[0]`` are the first image's, and so on. Each image gets exactly
    the call mmdet's per-image post-processing makes (``idxs`` are its level
    or class ids, so that the NMS keeps them apart), so the result is the
    same, down to the order of equal scores; what the loop leaves out is
    everything else mmdet does per image (decoding, filtering, sorting:
    done once for the whole batch by the caller). Why not one call over the
    whole batch, images kept apart by offsets as ``batched_nms`` keeps
    classes apart: the offsets round the coordinates of every image but the
    first, and mmcv's CPU kernel compares every pair of boxes in a call (the
    cost grows with the square of the batch), while its CUDA path splits
    any call over 10,000 candidates into one per group anyway.

    Args:
        boxes (Tensor): ``(M, 4)`` boxes of all images.
        scores (Tensor): ``(M, )`` their scores.
        idxs (Tensor, optional): ``(M, )`` the groups NMS keeps apart within
            an image; ``None``: one group (the call then skips
            ``batched_nms``'s offsets, which would all be 0: the same result,
            except where a box is NaN, which mmdet's offsets of
            ``0 * (max + 1)`` spread to every box of the image, so that its
            NMS suppresses nothing; here only the NaN box is out of reach).
        counts (Sequence[int]): Candidates per image, summing to ``M``.
        nms_cfg (dict): ``batched_nms``'s ``nms_cfg``.
        max_per_img (int): Keep at most this many per image (the best);
            ``-1``: all. Defaults to -1.

    Returns:
        list[tuple[Tensor, Tensor]]: Per image ``dets`` ``(k, 5)`` (box and
        score, descending score) and ``keep`` ``(k, )`` (indices into the
        image's own candidates).
    """
    if idxs is None:
        idxs = scores.new_zeros(scores.shape, dtype=torch.long)
        nms_cfg = dict(nms_cfg, class_agnostic=True)
    results = []
    start = 0
    for count in counts:
        end = start + count
        if count == 0:
            results.append((boxes.new_zeros(0, 5), idxs.new_zeros(0)))
        else:
            dets, keep = batched_nms(boxes[start:end], scores[start:end].contiguous(),
                                     idxs[start:end], nms_cfg)
            if max_per_img > 0:
                dets, keep = dets[:max_per_img], keep[:max_per_img]
            results.append((dets, keep))
        start = end
    return results
