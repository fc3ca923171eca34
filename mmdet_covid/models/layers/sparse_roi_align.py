"""RoIAlign as one sparse matrix product: fast forward *and* backward on CPU."""
import warnings
from typing import Tuple, Union

import torch
from mmcv.ops import RoIAlign
from mmdet.registry import MODELS
from torch import Tensor, nn
from torch.nn.modules.utils import _pair


def roi_align_matrix(rois: Tensor, feat_shape: Tuple[int, int, int], output_size: Tuple[int, int],
                     spatial_scale: float, sampling_ratio: int, aligned: bool) -> Tensor:
    """The sparse ``(N * PH * PW, B * H * W)`` matrix of an RoIAlign.

    Row ``(n, ph, pw)`` holds the bilinear weights, divided by the number of
    sampling points, of the ``sampling_ratio**2`` points of that output bin;
    the interpolation is that of mmcv's ``RoIAlign`` (points more than one
    pixel outside the map contribute zero, the others are clamped to it).

    Args:
        rois (Tensor): ``(N, 5)`` ``(batch_idx, x1, y1, x2, y2)``.
        feat_shape (tuple): ``(B, H, W)`` of the feature map.

    Returns:
        Tensor: a sparse CSR matrix, at most ``(sampling_ratio * 2)**2``
        entries per row: the distinct map pixels of the row's points, with
        nonzero weight.
    """
    num_imgs, height, width = feat_shape
    out_h, out_w = output_size
    sr = sampling_ratio
    offset = 0.5 if aligned else 0.0
    x1 = rois[:, 1] * spatial_scale - offset
    y1 = rois[:, 2] * spatial_scale - offset
    roi_w = rois[:, 3] * spatial_scale - offset - x1
    roi_h = rois[:, 4] * spatial_scale - offset - y1
    if not aligned:  # legacy mode: force malformed RoIs to be 1x1
        roi_w, roi_h = roi_w.clamp(min=1.0), roi_h.clamp(min=1.0)
    device, dtype = rois.device, rois.dtype
    # Sample coordinates along each axis: (N, out * sr)
    steps_x = (torch.arange(out_w * sr, device=device, dtype=dtype) + 0.5) / sr
    steps_y = (torch.arange(out_h * sr, device=device, dtype=dtype) + 0.5) / sr
    xs = x1[:, None] + steps_x[None] * (roi_w / out_w)[:, None]
    ys = y1[:, None] + steps_y[None] * (roi_h / out_h)[:, None]

    def axis(coords: Tensor, size: int):
        """Low/high indices and weights along one axis; zero weight if out."""
        valid = (coords >= -1.0) & (coords <= size)
        coords = coords.clamp(min=0)
        low = coords.floor().clamp(max=size - 1)
        at_edge = low >= size - 1
        coords = torch.where(at_edge, low, coords)
        high = torch.where(at_edge, low, low + 1)
        frac = coords - low
        return low.long(), high.long(), (1 - frac) * valid, frac * valid

    def merged(coords: Tensor, size: int, out: int):
        """Each bin's distinct indices along one axis and the summed weights of
        its ``sr`` points at each, sorted; ``(N, out, 2 * sr)`` each, padded
        with zero weights, and where a weight is nonzero."""
        low, high, w_low, w_high = axis(coords, size)
        idx = torch.stack([low, high], -1).view(num, out, 2 * sr)
        weight = torch.stack([w_low, w_high], -1).view(num, out, 2 * sr)
        idx, order = idx.sort(-1)
        weight = weight.gather(-1, order)
        first = torch.ones_like(idx, dtype=torch.bool)
        first[..., 1:] = idx[..., 1:] != idx[..., :-1]
        group = first.cumsum(-1) - 1
        weight = torch.zeros_like(weight).scatter_add_(-1, group, weight)
        idx = torch.zeros_like(idx).scatter_(-1, group, idx)
        return idx, weight, weight != 0

    num = rois.size(0)
    iy, wy, ny = merged(ys, height, out_h)  # (N, out_h, 2 sr)
    ix, wx, nx = merged(xs, width, out_w)   # (N, out_w, 2 sr)
    # Rows (roi, bin_y, bin_x) in order, each listing the product of its distinct y
    # and x indices (sorted, no duplicates): the weight of a map pixel is the
    # product of its summed y and x weights, as bilinear sampling is separable.
    # Only nonzero entries are kept: a bin narrower than a map pixel has 4-9 of
    # the sr * sr * 4 = 16 point-neighbour pairs (the product's cost). What
    # depends on one axis is computed on that axis's small tensors; the
    # (N, out_h, out_w, 2sr, 2sr) grid takes one broadcast operation each.
    col_y = rois[:, 0].long().view(num, 1, 1) * (height * width) + iy * width
    col = col_y[:, :, None, :, None] + ix[:, None, :, None, :]
    weight = (wy / (sr * sr))[:, :, None, :, None] * wx[:, None, :, None, :]
    keep = ny[:, :, None, :, None] & nx[:, None, :, None, :]
    kept = keep.view(-1).nonzero().squeeze(1)  # once for both (a mask would search twice)
    rows = num * out_h * out_w
    per_row = ny.sum(-1)[:, :, None] * nx.sum(-1)[:, None, :]  # (N, out_h, out_w)
    crow = torch.zeros(rows + 1, dtype=torch.long, device=device)
    torch.cumsum(per_row.view(-1), 0, out=crow[1:])
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter('ignore', UserWarning)
        return torch.sparse_csr_tensor(crow, col.view(-1)[kept], weight.view(-1)[kept],
                                       (rows, num_imgs * height * width),
                                       check_invariants=False)


@MODELS.register_module()
class SparseRoIAlign(nn.Module):
    """mmcv's ``RoIAlign`` (avg pooling, fixed ``sampling_ratio``) computed as
    one sparse-dense matrix product.

    On a CPU, mmcv's kernel is single-threaded and its backward scatters one
    value at a time; here forward and backward are both a (multithreaded)
    sparse matrix product, several times faster. Outputs and gradients equal
    mmcv's up to float rounding. On CUDA tensors mmcv's kernel is used, on
    features made contiguous (NCHW) first: it reads memory in that order
    whatever the tensor's strides (a channels-last map gave wrong values).
    Under CPU autocast it computes in float32 (torch has no bfloat16 sparse
    product), on float32 features.

    Args:
        output_size (int or tuple): ``(PH, PW)``.
        spatial_scale (float): Input box scale to feature-map scale.
        sampling_ratio (int): Sampling points per bin along each axis; must
            be > 0 (the adaptive mode of mmcv, 0, is not supported).
        aligned (bool): Shift boxes by -0.5 pixel. Defaults to True.
    """

    def __init__(self, output_size: Union[int, Tuple[int, int]], spatial_scale: float = 1.0,
                 sampling_ratio: int = 2, aligned: bool = True) -> None:
        super().__init__()
        if not isinstance(sampling_ratio, int) or sampling_ratio < 1:
            raise ValueError(f'SparseRoIAlign: sampling_ratio must be an integer '
                             f'>= 1, got {sampling_ratio!r}')
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned
        self._cuda_op = RoIAlign(self.output_size, self.spatial_scale, sampling_ratio,
                                 'avg', aligned)

    def forward(self, feats: Tensor, rois: Tensor) -> Tensor:
        """``(B, C, H, W)`` features, ``(N, 5)`` RoIs -> ``(N, C, PH, PW)``, in
        channels-last memory order on a CPU (the product's own order)."""
        if feats.is_cuda:  # mmcv's kernel indexes NCHW memory: a channels-last map is copied
            return self._cuda_op(feats.contiguous(), rois)
        num_imgs, channels, height, width = feats.shape
        out_h, out_w = self.output_size
        if rois.size(0) == 0:
            return feats.new_zeros(0, channels, out_h, out_w)
        if feats.dtype == torch.bfloat16:
            feats = feats.float()
        matrix = roi_align_matrix(rois.detach().to(feats.dtype), (num_imgs, height, width),
                                  self.output_size, self.spatial_scale,
                                  self.sampling_ratio, self.aligned)
        flat = feats.permute(0, 2, 3, 1).reshape(num_imgs * height * width, channels)
        with torch.autocast('cpu', enabled=False):
            # Into an uninitialised buffer: addmm ignores it at beta=0 (documented),
            # so the product writes its result once. torch.sparse.mm zero-fills a
            # result, copies it into another and adds the product there (same
            # values; timings in docs/benchmarks.md).
            out = flat.new_empty(matrix.size(0), channels).addmm_(matrix, flat, beta=0)
        # (N, PH, PW, C) seen as (N, C, PH, PW): a channels-last tensor, no copy
        return out.view(-1, out_h, out_w, channels).permute(0, 3, 1, 2)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(output_size={self.output_size}, spatial_scale='
                f'{self.spatial_scale}, sampling_ratio={self.sampling_ratio}, '
                f'aligned={self.aligned})')
