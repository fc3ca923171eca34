"""Giving the model each slice at the pixel size it was trained at, and mapping back.

The model sees pixels, not millimetres: its pipeline stretches any slice to its input
size (512x512), so a slice's millimetres per model pixel are its field of view over 512.
A scan with another field of view than the training data shows the model lungs and
lesions of another apparent size. :class:`ModelGrid` resamples every slice to the
millimetres per model pixel recorded in the checkpoint
(:func:`~mmdet_covid.utils.provenance.model_pixel_mm`), puts it on a canvas of the
model's input size (padded with air, or cropped around the body), or of the lungs' box
and a margin (``fit_margin``: the model is fully convolutional, and the pixels far from
the lungs cost time and add no lung lesion), and maps the predicted masks back onto the
input's own pixels. Where the slice already has that pixel size and the input size it
is the identity, and no pixel is touched.
"""
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from ..io.hounsfield import AIR_HU

# A relative pixel-size difference below this is no resampling.
SAME_PIXEL = 0.01


def model_input_size(steps: Sequence[dict]) -> Optional[Tuple[int, int]]:
    """(width, height) that an inference pipeline's ``Resize`` (without keeping the
    ratio) stretches every slice to, or None."""
    for step in steps:
        if step.get('type') == 'Resize' and not step.get('keep_ratio', False):
            scale = step.get('scale')
            if scale:
                return int(scale[0]), int(scale[1])
    return None


@dataclass
class ModelGrid:
    """The map between a scan's pixels and the model's canvas (one for all slices).

    Attributes:
        input_shape: (H, W) of the scan's slices.
        factor: (rows, columns) model pixels per input pixel.
        resampled: (h, w) of a slice after resampling.
        offset: (y, x) of the canvas's top-left corner in the resampled slice (negative:
            the slice is padded).
        canvas: (H, W) of the model's input.
    """
    input_shape: Tuple[int, int]
    factor: Tuple[float, float]
    resampled: Tuple[int, int]
    offset: Tuple[int, int]
    canvas: Tuple[int, int]

    @classmethod
    def build(cls, input_shape: Tuple[int, int], pixel_mm: Tuple[float, float],
              model_pixel_mm: float, canvas: Tuple[int, int],
              body_box: Optional[Tuple[int, int, int, int]] = None,
              fit_margin: Optional[int] = None, divisor: int = 32) -> 'ModelGrid':
        """The grid of a scan.

        Args:
            input_shape: (H, W) of its slices.
            pixel_mm: (row, column) spacing of its pixels.
            model_pixel_mm: the spacing the model was trained at.
            canvas: (H, W) of the model's input.
            body_box: (y0, x0, y1, x1) of what must be seen over the whole scan (input
                pixels, end exclusive; the lungs), centred on the canvas; default the
                slice's centre.
            fit_margin: with a ``body_box``, the canvas shrinks to the box and this many
                model pixels around it, rounded up to a multiple of ``divisor`` (never
                larger than ``canvas``): the model is fully convolutional, and what lies
                away from the lungs costs time without adding lung lesions. None: the
                whole ``canvas``.
            divisor: what a fitted canvas's sides are multiples of (the stride of the
                model's coarsest feature map).
        """
        h, w = input_shape
        factor = (pixel_mm[0] / model_pixel_mm, pixel_mm[1] / model_pixel_mm)
        resampled = (max(1, int(round(h * factor[0]))), max(1, int(round(w * factor[1]))))
        if fit_margin is not None and body_box is not None:
            extent = [(body_box[axis + 2] - body_box[axis]) * factor[axis] for axis in range(2)]
            canvas = tuple(min(canvas[axis], divisor * int(np.ceil(
                (extent[axis] + 2 * fit_margin) / divisor))) for axis in range(2))
        if body_box is None:
            centre = (resampled[0] / 2.0, resampled[1] / 2.0)
        else:
            y0, x0, y1, x1 = body_box
            centre = ((y0 + y1) / 2.0 * factor[0], (x0 + x1) / 2.0 * factor[1])
        offset = []
        for axis in range(2):
            start = int(round(centre[axis] - canvas[axis] / 2.0))
            if resampled[axis] <= canvas[axis]:  # pad: the whole slice, centred on the body
                start = min(0, max(start, resampled[axis] - canvas[axis]))
            else:  # crop: stay inside the slice
                start = min(max(start, 0), resampled[axis] - canvas[axis])
            offset.append(start)
        return cls(tuple(input_shape), factor, resampled, tuple(offset), tuple(canvas))

    @property
    def identity(self) -> bool:
        """Whether the slices go to the model as they are."""
        return (self.resampled == self.input_shape == self.canvas
                and all(abs(f - 1.0) < SAME_PIXEL for f in self.factor))

    def outside_mm(self, box: Tuple[int, int, int, int], pixel_mm: Tuple[float, float]) -> float:
        """The most millimetres by which ``box`` (y0, x0, y1, x1 in input pixels, end
        exclusive; the whole slice by default) sticks out of the canvas on any one side (0
        when the canvas covers it)."""
        out = 0.0
        for axis in range(2):
            start = box[axis] * self.factor[axis]
            end = box[axis + 2] * self.factor[axis]
            beyond = max(self.offset[axis] - start, end - self.offset[axis] - self.canvas[axis])
            out = max(out, beyond / self.factor[axis] * pixel_mm[axis])
        return max(out, 0.0)

    def to_model(self, hu: np.ndarray) -> np.ndarray:
        """One slice (H, W) in HU on the model's canvas (air outside the slice)."""
        if self.identity:
            return hu
        h, w = self.resampled
        shrink = self.factor[0] < 1 and self.factor[1] < 1
        img = cv2.resize(hu.astype(np.float32), (w, h),
                         interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        out = np.full(self.canvas, AIR_HU, np.float32)
        (ys, yd, yn), (xs, xd, xn) = (self._span(a) for a in range(2))
        out[yd:yd + yn, xd:xd + xn] = img[ys:ys + yn, xs:xs + xn]
        return out

    def to_input(self, masks: np.ndarray) -> np.ndarray:
        """Masks (N, canvas H, canvas W) bool on the model's canvas, back on the input's
        pixels (N, H, W) bool (linear interpolation, then half)."""
        if self.identity:
            return masks
        if len(masks) == 0:
            return np.zeros((0, ) + self.input_shape, bool)
        h, w = self.resampled
        full = np.zeros((len(masks), h, w), np.uint8)
        (ys, yd, yn), (xs, xd, xn) = (self._span(a) for a in range(2))
        full[:, ys:ys + yn, xs:xs + xn] = masks[:, yd:yd + yn, xd:xd + xn].astype(np.uint8) * 255
        size = (self.input_shape[1], self.input_shape[0])
        return np.stack([cv2.resize(m, size, interpolation=cv2.INTER_LINEAR) >= 128
                         for m in full])

    def _span(self, axis: int) -> Tuple[int, int, int]:
        """(start in the resampled slice, start on the canvas, length) of their overlap."""
        start = self.offset[axis]
        src, dst = max(start, 0), max(-start, 0)
        n = min(self.resampled[axis] - src, self.canvas[axis] - dst)
        return src, dst, max(n, 0)
