import json
import pickle

import cv2
import numpy as np
import pytest
import torch
from matplotlib.image import imread
from mmdet.registry import METRICS
from mmdet.structures import DetDataSample
from mmengine.evaluator import Evaluator
from mmengine.structures import InstanceData

from mmdet_covid.evaluation.metrics import ClsSensitivityF1
from mmdet_covid.evaluation.metrics.cls_metric import binary_auc, weighted_f1

CLASSES = ('Normal', 'CP', 'COVID-19')

# 10 slices, 3 classes. CP (class 1) is never predicted; ties in the scores
# of every class (0.5 in column 0, 0.3 in column 1, 0.4 in column 2).
#            Normal  CP   COVID   gt   argmax
SCORES = [
    [0.7, 0.2, 0.1],  # 0      0
    [0.6, 0.3, 0.1],  # 0      0
    [0.5, 0.1, 0.4],  # 0      0
    [0.3, 0.2, 0.5],  # 0      2
    [0.5, 0.4, 0.1],  # 1      0
    [0.4, 0.3, 0.3],  # 1      0
    [0.2, 0.3, 0.5],  # 1      2
    [0.1, 0.2, 0.7],  # 2      2
    [0.3, 0.1, 0.6],  # 2      2
    [0.5, 0.1, 0.4],  # 2      0
]
LABELS = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]

# By hand:
# confusion matrix (rows gt, cols pred): support (4, 3, 3), predicted (6, 0, 4)
CM = [[3, 0, 1],
      [2, 0, 1],
      [1, 0, 2]]
SENSITIVITY = [3 / 4, 0.0, 2 / 3]
PRECISION = [3 / 6, 0.0, 2 / 4]  # CP never predicted: 0 by convention
F1 = [6 / 10, 0.0, 4 / 7]  # 2TP / (support + predicted)
ACCURACY = 5 / 10
F1_WEIGHTED = (4 * 0.6 + 3 * 0.0 + 3 * 4 / 7) / 10  # = 0.41143
F1_MACRO = (0.6 + 0.0 + 4 / 7) / 3  # = 0.39048
# AUC = (pairs positive > negative + 1/2 pairs tied) / (n_pos * n_neg):
# Normal: positives .7 .6 .5 .3 vs negatives .5 .4 .2 .1 .3 .5
#   6 + 6 + (4 + 2/2) + (2 + 1/2) = 19.5 of 24
# CP: positives .4 .3 .3 vs negatives .2 .3 .1 .2 .2 .1 .1
#   7 + (6 + 1/2) + (6 + 1/2) = 20 of 21
# COVID-19: positives .7 .6 .4 vs negatives .1 .1 .4 .5 .1 .3 .5
#   7 + 7 + (4 + 1/2) = 18.5 of 21
AUC = [19.5 / 24, 20 / 21, 18.5 / 21]
AUC_MACRO = 127 / 144


def _samples(scores=SCORES, labels=LABELS):
    """DetDataSamples as the SSM / SliceClassifier predict() returns them."""
    samples = []
    for i, (score, label) in enumerate(zip(scores, labels)):
        score = torch.tensor(score)
        sample = DetDataSample(metainfo=dict(img_path=f'slice_{i}.png'))
        sample.gt_label = torch.tensor([label])
        sample.pred_score = score
        sample.pred_label = score.argmax().view(1)
        samples.append(sample)
    return samples


def _evaluate(metric_cfg: dict, samples, batch_size: int = 4, dataset_meta=None) -> dict:
    evaluator = Evaluator(metric_cfg)
    if dataset_meta is not None:
        evaluator.dataset_meta = dataset_meta
    for start in range(0, len(samples), batch_size):
        evaluator.process(data_samples=samples[start:start + batch_size])
    return evaluator.evaluate(len(samples))


@pytest.mark.parametrize('as_tensor', [False, True])
def test_calculate_hand_computed(as_tensor):
    scores, labels = np.array(SCORES), np.array(LABELS)
    if as_tensor:
        scores, labels = torch.tensor(scores, dtype=torch.float32), torch.tensor(labels)
    out = ClsSensitivityF1.calculate(scores, labels, 3)
    np.testing.assert_array_equal(out['confusion_matrix'], CM)
    np.testing.assert_array_equal(out['support'], [4, 3, 3])
    np.testing.assert_allclose(out['sensitivity'], SENSITIVITY)
    np.testing.assert_allclose(out['precision'], PRECISION)
    np.testing.assert_allclose(out['f1'], F1)
    np.testing.assert_allclose(out['auc'], AUC)
    assert out['accuracy'] == pytest.approx(ACCURACY)
    assert out['f1_weighted'] == pytest.approx(F1_WEIGHTED)
    assert out['f1_macro'] == pytest.approx(F1_MACRO)
    assert out['auc_macro'] == pytest.approx(AUC_MACRO)


def test_class_without_support_and_undefined_auc():
    # COVID-19 (2) has no ground truth but is predicted once; Normal is
    # never predicted. 4 slices: gt 0 1 1 0, pred 1 1 2 1.
    scores = [[0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.1, 0.3, 0.6], [0.3, 0.6, 0.1]]
    out = ClsSensitivityF1.calculate(np.array(scores), np.array([0, 1, 1, 0]), 3)
    np.testing.assert_array_equal(out['confusion_matrix'], [[0, 2, 0], [0, 1, 1], [0, 0, 0]])
    np.testing.assert_allclose(out['sensitivity'], [0.0, 0.5, np.nan])  # no COVID-19 case
    np.testing.assert_allclose(out['precision'], [0.0, 1 / 3, 0.0])
    np.testing.assert_allclose(out['f1'], [0.0, 2 / 5, 0.0])
    assert out['f1_weighted'] == pytest.approx(2 * 0.4 / 4)  # zero-support class: no weight
    assert out['f1_macro'] == pytest.approx(0.4 / 3)  # ...but counts 0 in the macro mean
    # Normal: positives .2 .3 vs negatives .1 .1 -> 1; CP: positives .8 .3
    # vs .7 .6 -> 2 of 4; COVID-19 has no positives -> nan, left out of the mean
    assert out['auc'][0] == pytest.approx(1.0)
    assert out['auc'][1] == pytest.approx(0.5)
    assert np.isnan(out['auc'][2])
    assert out['auc_macro'] == pytest.approx(0.75)


def test_absent_class_is_nan_with_a_warning_and_null_in_the_run_files(tmp_path, capsys):
    from mmengine.logging import MMLogger
    from mmengine.visualization import LocalVisBackend

    from mmdet_covid.engine.hooks import StrictJsonLoggerHook
    from mmdet_covid.visualization import SSMVisualizer

    MMLogger.get_instance('test_absent_class')
    without_cp = [i for i, label in enumerate(LABELS) if label != 1]
    metrics = _evaluate(dict(type='ClsSensitivityF1'),
                        _samples([SCORES[i] for i in without_cp],
                                 [LABELS[i] for i in without_cp]))
    assert np.isnan(metrics['cls/sensitivity_CP']) and np.isnan(metrics['cls/auc_CP'])
    assert metrics['cls/sensitivity_Normal'] == pytest.approx(75.0)
    assert 'WARNING - ClsSensitivityF1: no sample of class(es) CP in the 7 evaluated' in (
        capsys.readouterr().out)

    def strict_load(text):  # what a reader other than Python's json accepts
        return json.loads(text, parse_constant=lambda c: pytest.fail(f'bare {c} in JSON'))

    # the test-metrics file of LoggerHook...
    tags = StrictJsonLoggerHook._process_tags(dict(metrics, step=np.int64(3)))
    assert strict_load(json.dumps(tags))['cls/sensitivity_CP'] is None
    # ...and the validation scalars written through the visualiser
    visualizer = SSMVisualizer(name='strict_json', save_dir=str(tmp_path),
                               vis_backends=[dict(type=LocalVisBackend)])
    visualizer.add_scalars(metrics, step=1, file_path='val.json')
    for name in ('scalars.json', 'val.json'):
        path = tmp_path / 'vis_data' / name
        row = strict_load(path.read_text().strip())
        assert row['cls/sensitivity_CP'] is None and row['step'] == 1
        assert row['cls/accuracy'] == pytest.approx(metrics['cls/accuracy'])


def test_auc_matches_pairwise_definition_with_many_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 200) / 4  # 5 distinct values: ties everywhere
    positive = rng.random(200) < 0.3
    pos, neg = scores[positive], scores[~positive]
    diff = pos[:, None] - neg[None, :]
    expected = ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size
    assert binary_auc(scores, positive) == pytest.approx(expected)
    assert binary_auc(np.ones(4), np.array([1, 0, 1, 0], bool)) == 0.5
    assert binary_auc(np.arange(4.), np.array([0, 0, 1, 1], bool)) == 1.0
    assert binary_auc(np.arange(4.), np.array([1, 1, 0, 0], bool)) == 0.0
    assert np.isnan(binary_auc(np.arange(3.), np.ones(3, bool)))


def test_weighted_f1_of_hard_predictions_by_hand():
    labels = np.array([0, 0, 1, 1, 2, 2])
    assert weighted_f1(labels, labels, 3) == 1.0
    # F1 of Normal 1, CP 2/3 (one called COVID-19), COVID-19 0.8; two slices each
    assert weighted_f1(labels, np.array([0, 0, 1, 2, 2, 2]), 3) == pytest.approx(
        (1 + 2 / 3 + 0.8) / 3)
    # weighted by support: Normal (4 slices) all right, CP (1) called Normal, no COVID-19
    # slice and none called so: F1 Normal 2*4/(4+5) = 8/9, CP 0
    assert weighted_f1(torch.tensor([0, 0, 0, 0, 1]), torch.tensor([0, 0, 0, 0, 0]),
                       3) == pytest.approx(4 / 5 * 8 / 9)


def test_calculate_rejects_bad_shapes_and_labels():
    with pytest.raises(ValueError, match=r'shape \(N, 3\)'):
        ClsSensitivityF1.calculate(np.ones((2, 4)), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match=r'\[0, 3\).*\[3\]'):
        ClsSensitivityF1.calculate(np.ones((2, 3)), np.array([0, 3]), 3)
    with pytest.raises(ValueError, match='no samples'):
        ClsSensitivityF1.calculate(np.ones((0, 3)), np.array([], int), 3)


def test_evaluator_keys_units_and_prefix():
    metrics = _evaluate(dict(type='ClsSensitivityF1'), _samples())
    expected_keys = {'accuracy', 'f1_weighted', 'f1_macro', 'auc_macro'} | {
        f'{kind}_{c}' for kind in ('sensitivity', 'precision', 'auc') for c in CLASSES}
    assert set(metrics) == {f'cls/{k}' for k in expected_keys}
    assert all(type(v) is float for v in metrics.values())
    # percent for accuracy / sensitivity / precision, [0, 1] for F1 and AUC
    assert metrics['cls/accuracy'] == pytest.approx(50.0)
    assert metrics['cls/sensitivity_Normal'] == pytest.approx(75.0)
    assert metrics['cls/sensitivity_CP'] == 0.0
    assert metrics['cls/sensitivity_COVID-19'] == pytest.approx(200 / 3)
    assert metrics['cls/precision_COVID-19'] == pytest.approx(50.0)
    assert metrics['cls/f1_weighted'] == pytest.approx(F1_WEIGHTED)
    assert metrics['cls/f1_macro'] == pytest.approx(F1_MACRO)
    assert metrics['cls/auc_CP'] == pytest.approx(20 / 21)
    assert metrics['cls/auc_macro'] == pytest.approx(AUC_MACRO)


def test_class_names_from_dataset_meta_override_the_argument():
    metrics = _evaluate(dict(type='ClsSensitivityF1', classes=('a', 'b', 'c'), prefix='val'),
                        _samples(), dataset_meta=dict(classes=('N', 'P', 'C')))
    assert metrics['val/sensitivity_N'] == pytest.approx(75.0)
    assert not any(k.endswith(('_a', '_Normal')) for k in metrics)
    metrics = _evaluate(dict(type='ClsSensitivityF1', classes=('a', 'b', 'c')), _samples())
    assert metrics['cls/sensitivity_a'] == pytest.approx(75.0)


def test_process_stores_small_picklable_numpy():
    metric = METRICS.build(dict(type='ClsSensitivityF1'))
    metric.process({}, [s.to_dict() for s in _samples()[:2]])
    assert len(metric.results) == 2
    first = metric.results[0]
    assert set(first) == {'pred_score', 'gt_label'}
    assert isinstance(first['pred_score'], np.ndarray) and first['pred_score'].shape == (3,)
    assert first['gt_label'] == 0
    # what collect_results pickles across ranks
    assert len(pickle.dumps(metric.results)) < 1000


@pytest.mark.parametrize('missing', ['gt_label', 'pred_score'])
def test_missing_key_is_named(missing):
    sample = _samples()[0]
    delattr(sample, missing)
    metric = METRICS.build(dict(type='ClsSensitivityF1'))
    with pytest.raises(KeyError, match=rf"sample 0 .*\(slice_0.png\) has no '{missing}'") as err:
        metric.process({}, [sample.to_dict()])
    assert 'segmentation sample' in str(err.value)


def test_segmentation_sample_is_rejected_through_evaluator():
    seg = DetDataSample(metainfo=dict(img_path='lesions/0001.jpg'))
    seg.pred_instances = InstanceData(scores=torch.ones(1), labels=torch.zeros(1).long())
    evaluator = Evaluator(dict(type='ClsSensitivityF1'))
    with pytest.raises(KeyError, match="lesions/0001.jpg.*no 'gt_label'"):
        evaluator.process(data_samples=[seg])


def test_confusion_matrix_files(tmp_path):
    out_dir = tmp_path / 'log'
    _evaluate(dict(type='ClsSensitivityF1', out_dir=str(out_dir)), _samples())
    with open(out_dir / 'cls_confusion_matrix.json') as f:
        content = json.load(f)
    assert content['classes'] == list(CLASSES)
    assert content['confusion_matrix'] == CM
    assert content['support'] == [4, 3, 3]
    png = out_dir / 'cls_confusion_matrix.png'
    assert png.stat().st_size > 0
    img = imread(str(png))
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert img[..., :3].std() > 0.05  # a drawn plot, not a blank canvas
    bgr = cv2.imread(str(png))
    assert bgr is not None and bgr.shape[:2] == img.shape[:2]


def test_no_files_without_out_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _evaluate(dict(type='ClsSensitivityF1'), _samples())
    assert list(tmp_path.iterdir()) == []
