"""Per-slice Dice, sensitivity and specificity over 256 thresholds of a lesion map.

The protocol of Inf-Net's evaluation (Fan et al., IEEE TMI 2020; its ``EvaluationTool``),
which produced the published COVID-SemiSeg table (U-Net 0.439 ... Semi-Inf-Net 0.739):

1. the ground truth is a logical image as stored, or ``GT > 128`` of an 8-bit one;
2. the predicted map is stored as an 8-bit image (the published maps are PNGs), resized
   to the ground truth's size if it has another (bicubic; MATLAB's ``imresize`` also
   antialiases when it shrinks, so this step alone is not bit-exact: the SSM's maps are
   pasted at the slice's own size and need none), and min-max normalised to [0, 1] (a
   constant map is left as it is, as MATLAB's ``mapminmax`` leaves a constant row);
3. at each threshold ``t`` of ``1, 254/255, ..., 0`` the prediction is ``map >= t``;
   with ``TP`` its overlap with the truth, Dice ``2 TP / (|P| + |G|)``, sensitivity
   ``TP / |G|`` and specificity ``TN / (TN + FP)``, **all three 0 when TP is 0**;
4. ``meanDic`` averages over slices at each threshold, then over thresholds;
   ``maxDic`` is the best threshold's (the same for sensitivity and specificity).

:func:`threshold_curves` does steps 1-3 for one slice, :func:`summarise` step 4.
:func:`instance_map` builds a map from the instance masks of a detector.
"""
from typing import Dict, Iterable, Optional, Sequence

import cv2
import numpy as np

NUM_THRESHOLDS = 256
THRESHOLDS = np.linspace(1.0, 0.0, NUM_THRESHOLDS)  # 1, 254/255, ..., 1/255, 0
# A map value equal to a threshold counts as reaching it whichever way each was
# rounded (k/255 computed by division against 1 - j/255 computed by steps).
TIE_TOLERANCE = 1e-9
CURVES = ('dice', 'sensitivity', 'specificity')


def ground_truth(gt: np.ndarray) -> np.ndarray:
    """The truth as the protocol reads it: a bool image as it is, else ``> 128`` of the
    first channel of an 8-bit image."""
    gt = np.asarray(gt)
    if gt.dtype == bool:
        return gt if gt.ndim == 2 else gt[..., 0]
    if gt.ndim == 3:
        gt = gt[..., 0]
    return gt > 128


def stored_map(score_map: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """A map in [0, 1] as the protocol reads it: stored as 8 bits, resized (bicubic,
    MATLAB's ``imresize`` default) to ``shape`` if it has another size, then min-max
    normalised; a constant map is not stretched."""
    score_map = np.asarray(score_map, np.float64)
    if score_map.ndim != 2:
        raise ValueError(f'expected a 2-D map, got shape {score_map.shape}')
    if score_map.size and (np.nanmin(score_map) < 0 or np.nanmax(score_map) > 1
                           or np.isnan(score_map).any()):
        raise ValueError('expected a map of values in [0, 1], got '
                         f'[{np.nanmin(score_map):.3g}, {np.nanmax(score_map):.3g}]'
                         f'{" with NaN" if np.isnan(score_map).any() else ""}')
    stored = np.round(score_map * 255).astype(np.uint8)
    if stored.shape != tuple(shape[:2]):
        stored = cv2.resize(stored, (int(shape[1]), int(shape[0])),
                            interpolation=cv2.INTER_CUBIC)
    values = stored.astype(np.float64) / 255
    if not values.size:
        return values
    low, high = values.min(), values.max()
    if high > low:
        values = (values - low) / (high - low)
    return values


def threshold_curves(score_map: np.ndarray, gt: np.ndarray) -> Dict[str, np.ndarray]:
    """Dice, sensitivity and specificity of one slice at each of :data:`THRESHOLDS`.

    Args:
        score_map: (H', W') predicted map in [0, 1] (any size; see :func:`stored_map`).
        gt: (H, W) truth, bool or 8-bit (see :func:`ground_truth`).

    Returns:
        ``{'dice', 'sensitivity', 'specificity'}``, each (256,) float64, in the
        order of :data:`THRESHOLDS` (1 first).
    """
    truth = ground_truth(gt)
    values = stored_map(score_map, truth.shape)
    # |P| and TP at every threshold from the sorted values: P(t) = {v >= t}
    all_sorted = np.sort(values, axis=None)
    pos_sorted = np.sort(values[truth], axis=None)
    cut = THRESHOLDS - TIE_TOLERANCE
    predicted = all_sorted.size - np.searchsorted(all_sorted, cut, side='left')
    tp = pos_sorted.size - np.searchsorted(pos_sorted, cut, side='left')
    num_gt = pos_sorted.size
    fp = predicted - tp
    tn = (all_sorted.size - num_gt) - fp
    hit = tp > 0
    out = {name: np.zeros(NUM_THRESHOLDS) for name in CURVES}
    out['dice'][hit] = 2.0 * tp[hit] / (predicted[hit] + num_gt)
    out['sensitivity'][hit] = tp[hit] / num_gt
    negatives = tn + fp
    spec_ok = hit & (negatives > 0)
    out['specificity'][spec_ok] = tn[spec_ok] / negatives[spec_ok]
    return out


def summarise(curves: Iterable[Dict[str, np.ndarray]]) -> Dict[str, float]:
    """Step 4 over slices: ``meanDic``, ``maxDic``, ``meanSen``, ``maxSen``, ``meanSpe``,
    ``maxSpe`` (the names of Inf-Net's result files). Empty input gives NaNs."""
    curves = list(curves)
    names = dict(dice='Dic', sensitivity='Sen', specificity='Spe')
    out: Dict[str, float] = {}
    for curve, short in names.items():
        if curves:
            column = np.mean([c[curve] for c in curves], axis=0)
            out[f'mean{short}'], out[f'max{short}'] = float(column.mean()), float(column.max())
        else:
            out[f'mean{short}'] = out[f'max{short}'] = float('nan')
    return out


def instance_map(masks: np.ndarray, scores: Optional[np.ndarray] = None,
                 shape: Optional[Sequence[int]] = None) -> np.ndarray:
    """The lesion map of a detector's instances: at each pixel, the maximum over the
    instances of mask probability x score (``scores=None``: the probability alone).

    Args:
        masks: (N, H, W) bool masks, uint8 probabilities 0..255 (mmdet's masks with
            ``mask_thr_binary < 0``) or float probabilities in [0, 1].
        scores: (N,) detection scores in [0, 1], or None.
        shape: (H, W) of the map when there is no instance.

    Returns:
        (H, W) float64 map in [0, 1]; zeros without instances.
    """
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f'expected (N, H, W) masks, got shape {masks.shape}')
    if not len(masks):
        size = masks.shape[1:] if shape is None else tuple(shape[:2])
        return np.zeros(size, np.float64)
    if masks.dtype == np.uint8:
        probs = masks.astype(np.float64) / 255
    else:
        probs = masks.astype(np.float64)
    if scores is not None:
        scores = np.asarray(scores, np.float64).reshape(-1)
        if len(scores) != len(probs):
            raise ValueError(f'{len(scores)} scores for {len(probs)} masks')
        probs = probs * scores[:, None, None]
    return np.clip(probs.max(axis=0), 0.0, 1.0)
