"""The scan-level class from the slice predictions: a plain, documented rule."""
from typing import Dict, Sequence

import numpy as np

from ..datasets.ct_slice_cls_dataset import COVIDX_CLASSES

NORMAL = 0  # class index of Normal in COVIDx-CT's order (Normal, CP, COVID-19)


def scan_class(slice_probs: np.ndarray, slice_top_lesion_score: np.ndarray,
               lesion_score_thr: float = 0.75, min_lesion_slices: int = 1,
               classes: Sequence[str] = COVIDX_CLASSES) -> Dict[str, object]:
    """Class of a scan from its analysed slices (slices with lung).

    The rule:

    1. a *lesion slice* is one whose best lesion detection scores at least
       ``lesion_score_thr`` (default 0.75, the paper's threshold for a detection);
    2. fewer than ``min_lesion_slices`` lesion slices: the scan is **Normal**, and its
       probabilities are the mean of the slice probabilities over all analysed slices;
    3. otherwise the probabilities are the mean over the lesion slices, and the class is
       the most probable of the diseased classes (CP, COVID-19): lesions were found, so
       the scan is not called Normal even if some lesion slices are.

    Args:
        slice_probs: (N, C) class probabilities of the N analysed slices.
        slice_top_lesion_score: (N,) best lesion score per slice (0 without detections).
        lesion_score_thr: score from which a detection makes a lesion slice.
        min_lesion_slices: lesion slices needed to call the scan diseased.
        classes: class names, Normal first (default: the classification dataset's).

    Returns:
        dict: ``label`` (int), ``class`` (name), ``probabilities`` ({name: p}),
        ``lesion_slices`` (count), ``analysed_slices`` (count), ``rule`` (one line).
    """
    probs = np.asarray(slice_probs, np.float64)
    top = np.asarray(slice_top_lesion_score, np.float64).reshape(-1)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(f'slice_probs of shape {probs.shape}: expected (slices, '
                         f'{len(classes)})')
    if top.shape[0] != probs.shape[0]:
        raise ValueError(f'{top.shape[0]} lesion scores for {probs.shape[0]} slices')
    if probs.shape[0] == 0:
        raise ValueError('no analysed slice (no slice with lung): no scan class')
    lesion = top >= lesion_score_thr
    n_lesion = int(lesion.sum())
    if n_lesion < min_lesion_slices:
        mean = probs.mean(axis=0)
        label = NORMAL
        rule = (f'{n_lesion} slice(s) with a lesion scored >= {lesion_score_thr:g} (fewer '
                f'than {min_lesion_slices}): Normal; probabilities averaged over all '
                f'{len(probs)} analysed slices')
    else:
        mean = probs[lesion].mean(axis=0)
        diseased = [c for c in range(len(classes)) if c != NORMAL]
        label = diseased[int(np.argmax(mean[diseased]))]
        rule = (f'{n_lesion} slice(s) with a lesion scored >= {lesion_score_thr:g}: the more '
                'probable diseased class of the probabilities averaged over them')
    return {'label': int(label), 'class': classes[label],
            'probabilities': {name: float(p) for name, p in zip(classes, mean)},
            'lesion_slices': n_lesion, 'analysed_slices': int(len(probs)), 'rule': rule}
