"""The scan-level rule, exercised directly."""
import numpy as np
import pytest

from mmdet_covid.scan import scan_class

P = np.array([[0.7, 0.2, 0.1], [0.6, 0.1, 0.3], [0.5, 0.1, 0.4]])


def test_no_lesion_slice_is_normal_with_the_mean_of_all_slices():
    out = scan_class(P, [0.2, 0.74, 0.0])
    assert out['class'] == 'Normal' and out['lesion_slices'] == 0
    assert out['probabilities']['COVID-19'] == pytest.approx(0.8 / 3)


def test_lesions_make_a_diseased_scan_even_where_normal_is_most_probable():
    out = scan_class(P, [0.2, 0.9, 0.8])
    # mean over the two lesion slices: Normal 0.55, CP 0.1, COVID-19 0.35
    assert out['class'] == 'COVID-19' and out['label'] == 2 and out['lesion_slices'] == 2
    assert out['probabilities']['Normal'] == pytest.approx(0.55)
    assert scan_class(P, [0.2, 0.9, 0.8], min_lesion_slices=3)['class'] == 'Normal'
    assert scan_class(P, [0.2, 0.9, 0.8], lesion_score_thr=0.95)['class'] == 'Normal'


def test_bad_input_is_named():
    with pytest.raises(ValueError, match='expected \\(slices, 3\\)'):
        scan_class(P[:, :2], [0, 0, 0])
    with pytest.raises(ValueError, match='2 lesion scores for 3 slices'):
        scan_class(P, [0, 0])
    with pytest.raises(ValueError, match='no analysed slice'):
        scan_class(np.zeros((0, 3)), [])
