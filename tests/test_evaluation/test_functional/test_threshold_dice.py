"""threshold_dice: Inf-Net's per-slice curves and their summary, against values worked
out by hand on 2x2 slices (thresholds t_j = 1 - j/255, j = 0..255)."""
import numpy as np
import pytest

from mmdet_covid.evaluation.functional import (THRESHOLDS, ground_truth, instance_map,
                                               stored_map, summarise, threshold_curves)

GT = np.array([[255, 0], [0, 0]], np.uint8)  # one lesion pixel of four


def test_thresholds_run_from_one_to_zero_in_255ths():
    assert len(THRESHOLDS) == 256
    assert THRESHOLDS[0] == 1 and THRESHOLDS[-1] == 0
    assert THRESHOLDS[1] == pytest.approx(254 / 255)


def test_truth_is_above_128_or_a_stored_bool():
    assert ground_truth(np.array([[128, 129]], np.uint8)).tolist() == [[False, True]]
    assert ground_truth(np.array([[True, False]])).tolist() == [[True, False]]
    rgb = np.zeros((1, 2, 3), np.uint8)
    rgb[0, 1, 0] = 200
    assert ground_truth(rgb).tolist() == [[False, True]]


def test_graded_map():
    # stored as 255, round(127.5) = 128, 0, 0 -> 1, 128/255, 0, 0
    curves = threshold_curves(np.array([[1.0, 0.5], [0.0, 0.0]]), GT)
    dice = curves['dice']
    # j = 0..126: P = {lesion}: Dice 1; j = 127..254 (t <= 128/255): two pixels: 2/3;
    # j = 255 (t = 0): the whole slice: 2 x 1 / (4 + 1)
    assert np.allclose(dice[:127], 1) and np.allclose(dice[127:255], 2 / 3)
    assert dice[255] == pytest.approx(0.4)
    assert np.allclose(curves['sensitivity'], 1)
    spe = curves['specificity']
    assert np.allclose(spe[:127], 1) and np.allclose(spe[127:255], 2 / 3) and spe[255] == 0
    summary = summarise([curves])
    assert summary['meanDic'] == pytest.approx((127 + 128 * 2 / 3 + 0.4) / 256)
    assert summary['maxDic'] == pytest.approx(1)
    assert summary['meanSen'] == pytest.approx(1)
    assert summary['meanSpe'] == pytest.approx((127 + 128 * 2 / 3) / 256)


def test_no_overlap_scores_zero_until_the_whole_slice():
    curves = threshold_curves(np.array([[0.0, 1.0], [0.0, 0.0]]), GT)
    assert np.all(curves['dice'][:255] == 0) and curves['dice'][255] == pytest.approx(0.4)
    # TP = 0 makes specificity 0 too, as the published tool does
    assert np.all(curves['specificity'] == 0)
    assert summarise([curves])['meanDic'] == pytest.approx(0.4 / 256)


def test_map_is_min_max_normalised():
    # 0.6 / 0.2 stored as 153 / 51 then stretched to 1 / 0: a perfect map
    curves = threshold_curves(np.array([[0.6, 0.2], [0.2, 0.2]]), GT)
    assert np.allclose(curves['dice'][:255], 1)
    assert summarise([curves])['meanDic'] == pytest.approx((255 + 0.4) / 256)


@pytest.mark.parametrize('value,expected', [(0.0, 0.4 / 256), (0.5, 129 * 0.4 / 256)])
def test_constant_map_is_not_stretched(value, expected):
    # MATLAB's mapminmax leaves a constant row as it is: 0.5 -> 128/255 reached at j >= 127
    curves = threshold_curves(np.full((2, 2), value), GT)
    assert summarise([curves])['meanDic'] == pytest.approx(expected)


def test_slice_without_lesion_scores_zero():
    curves = threshold_curves(np.array([[1.0, 0.0], [0.0, 0.0]]), np.zeros((2, 2), np.uint8))
    assert not any(curves[k].any() for k in curves)


def test_averaged_per_threshold_then_over_thresholds():
    perfect = threshold_curves(np.array([[1.0, 0.0], [0.0, 0.0]]), GT)
    missed = threshold_curves(np.array([[0.0, 1.0], [0.0, 0.0]]), GT)
    summary = summarise([perfect, missed])
    assert summary['maxDic'] == pytest.approx(0.5)  # the best column, not the best slice
    assert summary['meanDic'] == pytest.approx((255 * 0.5 + 0.4) / 256)
    assert np.isnan(summarise([])['meanDic'])


def test_map_of_another_size_is_resized_to_the_truth():
    big = np.zeros((8, 8))
    big[:4, :4] = 1.0
    values = stored_map(big, (2, 2))
    assert values.shape == (2, 2) and values[0, 0] == 1 and values[1, 1] == 0


def test_map_outside_unit_range_is_an_error():
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        threshold_curves(np.array([[1.5, 0.0], [0.0, 0.0]]), GT)


def test_instance_map_is_max_of_probability_times_score():
    masks = np.zeros((2, 2, 2), np.uint8)
    masks[0] = [[255, 102], [0, 0]]  # probabilities 1, 0.4
    masks[1] = [[51, 255], [0, 0]]  # 0.2, 1
    score_map = instance_map(masks, np.array([0.5, 0.3]))
    assert np.allclose(score_map, [[0.5, 0.3], [0, 0]])
    assert np.allclose(instance_map(masks), [[1, 1], [0, 0]])
    assert np.allclose(instance_map(masks.astype(bool), np.array([0.5, 0.9])),
                       [[0.9, 0.9], [0, 0]])
    assert instance_map(np.zeros((0, 3, 5), bool), np.zeros(0), (3, 5)).shape == (3, 5)
    with pytest.raises(ValueError, match='2 scores for 1 masks'):
        instance_map(masks[:1], np.array([0.5, 0.3]))
