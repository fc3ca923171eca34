"""binary_masks: probability masks made binary as the model's own threshold would."""
import numpy as np
import torch

from mmdet_covid.evaluation.functional import binary_masks


def test_stored_probabilities_are_cut_where_the_model_cuts():
    # the paste stores round(255 p): 127 is p < 0.5 (at most 127.5 / 255), 128 is p >= 0.5
    stored = torch.tensor([[[0, 127, 128, 255]]], dtype=torch.uint8)
    assert binary_masks(stored).tolist() == [[[False, False, True, True]]]
    assert binary_masks(stored.numpy(), 0.75).tolist() == [[[False, False, False, True]]]
    assert binary_masks(stored).dtype == torch.bool  # the type it came in
    probs = np.array([[[0.2, 0.5, 0.9]]], np.float32)
    assert binary_masks(probs).tolist() == [[[False, True, True]]]
    already = torch.tensor([[[True, False]]])
    assert binary_masks(already) is already
