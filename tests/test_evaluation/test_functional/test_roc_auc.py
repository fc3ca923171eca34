"""roc_auc against hand-counted pairs."""
import math

import pytest

from mmdet_covid.evaluation.functional import roc_auc


def test_roc_auc_counts_pairs_and_ties():
    assert roc_auc([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0]) == 1.0
    assert roc_auc([0.1, 0.2, 0.9, 0.8], [1, 1, 0, 0]) == 0.0
    # positives 0.5 and 0.3 against negatives 0.5 and 0.1: pairs won 0.5 + 1 + 0 + 1 of 4
    assert roc_auc([0.5, 0.3, 0.5, 0.1], [1, 1, 0, 0]) == pytest.approx(2.5 / 4)
    assert math.isnan(roc_auc([0.1, 0.2], [1, 1]))
    with pytest.raises(ValueError, match='3 scores for 2 labels'):
        roc_auc([0.1, 0.2, 0.3], [1, 0])
