"""Decode the boxes of a whole batch, each clipped to its own image."""
from typing import List, Sequence

import torch
from mmdet.structures.bbox import get_box_tensor
from torch import Tensor


def decode_per_image(bbox_coder, priors: Tensor, deltas: Tensor, counts: Sequence[int],
                     img_shapes: List[tuple]) -> Tensor:
    """``bbox_coder.decode`` of ``(M, 4)`` priors and deltas that lie image after
    image (``counts`` rows each), each image's boxes clipped to its shape by
    the coder itself, as mmdet's per-image post-processing does. One call
    where all images share a shape (as in a padded batch), else one per image.

    Returns:
        Tensor: ``(M, 4)`` boxes.
    """
    shapes = [tuple(shape[:2]) for shape in img_shapes]
    if len(set(shapes)) == 1:
        return get_box_tensor(bbox_coder.decode(priors, deltas, max_shape=shapes[0]))
    return torch.cat([
        get_box_tensor(bbox_coder.decode(p, d, max_shape=shape))
        for p, d, shape in zip(priors.split(counts), deltas.split(counts), shapes)])
