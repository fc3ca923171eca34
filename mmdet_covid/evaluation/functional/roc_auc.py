"""ROC AUC of a score against binary labels, without a plotting or learning library."""
from typing import Sequence

import numpy as np


def roc_auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve: the probability that a positive outscores a negative,
    ties counting half (the Mann-Whitney U statistic over the pairs).

    Args:
        scores: (N,) scores, higher for positives.
        labels: (N,) 1 / True for positives.

    Returns:
        The area in [0, 1]; NaN when the labels hold only one kind.
    """
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, bool)
    if scores.shape != labels.shape:
        raise ValueError(f'{scores.shape[0]} scores for {labels.shape[0]} labels')
    pos, neg = scores[labels], scores[~labels]
    if not len(pos) or not len(neg):
        return float('nan')
    # ranks with ties averaged: the U statistic without comparing every pair
    order = np.argsort(scores, kind='mergesort')
    ranks = np.empty(len(scores), np.float64)
    sorted_scores = scores[order]
    first = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    last = np.r_[first[1:], len(scores)]
    for a, b in zip(first, last):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    u = ranks[labels].sum() - len(pos) * (len(pos) + 1) / 2.0
    return float(u / (len(pos) * len(neg)))
