"""PatientClsMetric: slices grouped by patient, classified by the scan-level rule."""
import numpy as np
import pytest
import torch

from mmdet_covid.evaluation import PatientClsMetric, patient_key


def _sample(name, label, probs, scores):
    return dict(img_path=f'/data/cls/test/{name}', gt_label=torch.tensor([label]),
                pred_score=torch.tensor(probs),
                pred_instances=dict(scores=torch.tensor(scores, dtype=torch.float32)))


def test_patient_key_follows_covidx_names():
    assert patient_key('a/NCP_96_1328_0032.png') == 'NCP_96'
    assert patient_key('CP_96_1328_0032.png') == 'CP_96'  # another patient than NCP_96
    assert patient_key('radiopaedia_case_1.png') is None


def test_patients_are_scored_by_the_scan_rule():
    metric = PatientClsMetric()
    metric.dataset_meta = dict(classes=('Normal', 'CP', 'COVID-19'))
    metric.process(None, [
        # NCP_1: one slice looks Normal but both have a confident lesion -> COVID-19
        _sample('NCP_1_1000_0020.png', 2, [0.6, 0.1, 0.3], [0.9]),
        _sample('NCP_1_1000_0040.png', 2, [0.2, 0.1, 0.7], [0.8, 0.3]),
        # Normal_1: slices called COVID-19 but no lesion scored >= 0.75 -> Normal
        _sample('Normal_1_1007_0030.png', 0, [0.1, 0.2, 0.7], [0.5]),
        _sample('Normal_1_1007_0050.png', 0, [0.3, 0.3, 0.4], []),
        # CP_1: a lesion, CP more probable than COVID-19 -> CP
        _sample('CP_1_1000_0025.png', 1, [0.5, 0.3, 0.2], [0.95]),
        # CP_2: no lesion found -> Normal (a miss)
        _sample('CP_2_1007_0025.png', 1, [0.2, 0.5, 0.3], [0.1]),
    ])
    out = metric.evaluate(6)
    assert out['patient/patients'] == 4 and out['patient/slices_per_patient'] == 1.5
    assert out['patient/accuracy'] == pytest.approx(75.0)
    assert out['patient/sensitivity_CP'] == pytest.approx(50.0)
    assert out['patient/sensitivity_COVID-19'] == pytest.approx(100.0)
    # F1: Normal 2/3 (1 TP, 1 FP), CP 2/3 (1 TP, 1 FN), COVID-19 1
    assert out['patient/f1_weighted'] == pytest.approx((2 / 3 + 2 * 2 / 3 + 1) / 4)


def test_a_segmentation_sample_is_refused_with_its_keys():
    metric = PatientClsMetric()
    with pytest.raises(KeyError, match='has no gt_label, pred_score'):
        metric.process(None, [dict(img_path='x.png', pred_instances=dict(scores=np.zeros(0)))])
