"""Paste RoI masks into the image, vectorised over all masks at once."""
from typing import List, Optional, Sequence, Union

import torch
from torch import Tensor

# Upper bound on the float elements of one chunk of pasting windows
# (64M floats = 256 MB); more masks than that are pasted chunk by chunk.
_MAX_WINDOW_ELEMENTS = 64 * 1024 * 1024


def _tent_weights(starts: Tensor, length: int, lo: Tensor, hi: Tensor,
                  mask_size: int) -> Tensor:
    """Bilinear interpolation weights along one axis.

    Pixel ``p`` of the image (centre ``p + 0.5``) samples the ``mask_size``
    mask cells at the continuous index ``u = (p + 0.5 - lo) / (hi - lo) *
    mask_size - 0.5`` with the tent kernel ``max(0, 1 - |u - k|)``: exactly
    ``grid_sample(..., mode='bilinear', padding_mode='zeros',
    align_corners=False)``, the interpolation of mmdet's ``_do_paste_mask``.

    Returns:
        Tensor: ``(N, length, mask_size)``.
    """
    pix = starts[:, None] + torch.arange(length, device=starts.device)
    extent = (hi - lo).clamp(min=1e-6)[:, None]
    u = (pix + 0.5 - lo[:, None]) / extent * mask_size - 0.5
    cells = torch.arange(mask_size, device=starts.device, dtype=u.dtype)
    return (1 - (u[..., None] - cells).abs()).clamp(min=0)


def paste_masks(masks: Tensor, boxes: Tensor, img_h: int, img_w: int,
                threshold: float = 0.5,
                counts: Optional[Sequence[int]] = None) -> Union[Tensor, List[Tensor]]:
    """Resize every RoI mask into its box and paste it into an empty image.

    Each mask is only evaluated inside the integer window around its box
    (one pixel of margin, as mmdet does), all windows of a batch at once with
    two batched matrix products (bilinear resizing is separable), and only
    window pixels are written: no Python loop over masks.

    With ``counts``, the masks are those of several images, one after the
    other (``counts[k]`` masks of image ``k``, all pasted at ``img_h x
    img_w``): one computation for all of them, each image's result in a
    tensor of its own (not a view into a batch-wide one, which would keep,
    and pickle, the whole batch).

    Args:
        masks (Tensor): ``(N, h, w)`` mask probabilities in ``[0, 1]``.
        boxes (Tensor): ``(N, 4)`` boxes ``x1, y1, x2, y2`` in the output
            image's pixel coordinates.
        img_h (int): Output height.
        img_w (int): Output width.
        threshold (float): Binarisation threshold; ``>= 0`` gives a bool
            mask, ``< 0`` gives the probabilities as uint8 ``0..255``.
        counts (Sequence[int], optional): Masks per image, summing to ``N``.

    Returns:
        Tensor | list[Tensor]: ``(N, img_h, img_w)`` bool (or uint8 if
        ``threshold < 0``); with ``counts``, one ``(counts[k], img_h,
        img_w)`` tensor per image.
    """
    img_h, img_w = int(img_h), int(img_w)
    num, mask_h, mask_w = masks.shape
    out_dtype = torch.bool if threshold >= 0 else torch.uint8
    sizes = [num] if counts is None else [int(n) for n in counts]
    if sum(sizes) != num:
        raise ValueError(f'paste_masks: counts={list(counts)} sum to {sum(sizes)}, '
                         f'but there are {num} masks')
    outs = [torch.zeros(n, img_h, img_w, dtype=out_dtype, device=masks.device)
            for n in sizes]
    out = outs[0] if counts is None else outs
    firsts = [sum(sizes[:k]) for k in range(len(sizes))]  # each image's first mask
    if num == 0:
        return out
    masks, boxes = masks.float(), boxes.float()
    x0, y0, x1, y1 = boxes.unbind(1)
    xs = (x0.floor() - 1).clamp(min=0, max=img_w)
    ys = (y0.floor() - 1).clamp(min=0, max=img_h)
    win_w = ((x1.ceil() + 1).clamp(max=img_w) - xs).clamp(min=0).long()
    win_h = ((y1.ceil() + 1).clamp(max=img_h) - ys).clamp(min=0).long()
    max_w, max_h = int(win_w.max()), int(win_h.max())
    if max_w == 0 or max_h == 0:
        return out

    chunk = max(1, _MAX_WINDOW_ELEMENTS // (max_h * max_w))
    for first in range(0, num, chunk):  # a loop over chunks of masks
        sl = slice(first, first + chunk)
        wy = _tent_weights(ys[sl], max_h, y0[sl], y1[sl], mask_h)  # (n, H, h)
        wx = _tent_weights(xs[sl], max_w, x0[sl], x1[sl], mask_w)  # (n, W, w)
        windows = torch.bmm(torch.bmm(wy, masks[sl]), wx.transpose(1, 2))
        if threshold >= 0:
            values = windows >= threshold
        else:
            values = (windows * 255).round().clamp(0, 255).to(torch.uint8)
        rows = torch.arange(max_h, device=masks.device)
        cols = torch.arange(max_w, device=masks.device)
        inside = (rows[None, :, None] < win_h[sl, None, None]) & \
                 (cols[None, None, :] < win_w[sl, None, None])
        if threshold >= 0:
            inside &= values  # False is already in `out`: write True only
        n_idx, i, j = inside.nonzero(as_tuple=True)
        _write(outs, firsts, n_idx + first, ys.long()[sl][n_idx] + i,
               xs.long()[sl][n_idx] + j, values[n_idx, i, j])
    return out


def _write(outs: List[Tensor], firsts: List[int], mask_idx: Tensor, rows: Tensor,
           cols: Tensor, values: Tensor) -> None:
    """``out[mask, row, col] = value`` into the output of each mask's image
    (image ``k``'s masks start at ``firsts[k]``; ``mask_idx`` ascending, as
    ``nonzero`` gives it)."""
    if len(outs) == 1:
        outs[0][mask_idx, rows, cols] = values
        return
    bounds = torch.searchsorted(mask_idx, mask_idx.new_tensor(firsts)).tolist() + \
        [len(mask_idx)]
    for out, first, start, end in zip(outs, firsts, bounds, bounds[1:]):
        if end > start:
            out[mask_idx[start:end] - first, rows[start:end], cols[start:end]] = \
                values[start:end]
