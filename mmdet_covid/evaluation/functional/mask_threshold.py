"""Instance masks as a model returns them, made binary as the model would have."""
import math
from typing import Union

import numpy as np
import torch

Masks = Union[np.ndarray, torch.Tensor]


def binary_masks(masks: Masks, mask_thr: float = 0.5) -> Masks:
    """``masks`` (N, H, W) as booleans, in the type they came in.

    Boolean masks (mmdet's default ``mask_thr_binary=0.5``) are returned as they are;
    uint8 probability masks (``mask_thr_binary=-1``: the paste stores round(255 p)) are
    true where p >= ``mask_thr``, i.e. where round(255 p) >= 255 ``mask_thr`` + 0.5;
    float probabilities where they are at least ``mask_thr``.
    """
    if masks.dtype in (torch.bool, np.bool_):
        return masks
    if masks.dtype in (torch.uint8, np.uint8):
        return masks >= math.ceil(mask_thr * 255 + 0.5 - 1e-9)
    return masks >= mask_thr
