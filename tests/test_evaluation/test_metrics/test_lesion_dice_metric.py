"""LesionDiceMetric: the Inf-Net protocol on a detector's instances, binary and per class,
against values worked out by hand (tests/test_evaluation/test_functional/
test_threshold_dice.py has the curves themselves)."""
import numpy as np
import pytest
import torch
from PIL import Image

from mmdet_covid.engine.runner.ssm_runner import apply_dataset_settings
from mmdet_covid.evaluation import LesionDiceMetric

# a 2x2 slice whose top-left pixel is ground glass and bottom-right consolidation
GGO = np.array([[255, 0], [0, 0]], np.uint8)
CONS = np.array([[0, 0], [0, 255]], np.uint8)
# Dice curve of a perfect map with min 0: 1 for t > 0, 2|G| / (4 + |G|) at t = 0
PERFECT_ONE = (255 + 0.4) / 256  # |G| = 1 of 4 pixels
PERFECT_TWO = (255 + 2 * 2 / 6) / 256  # |G| = 2


def _truth(tmp_path, name, array, mode='L'):
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    img = Image.fromarray(array)
    (img.convert('1') if mode == '1' else img).save(folder / 's1.png')
    return folder


def _sample(masks, scores, labels, gt_masks=None):
    sample = dict(img_id=1, img_path='/data/images/test/s1.jpg', ori_shape=(2, 2),
                  pred_instances=dict(masks=torch.as_tensor(np.asarray(masks)),
                                      scores=torch.tensor(scores, dtype=torch.float32),
                                      labels=torch.tensor(labels, dtype=torch.long)))
    if gt_masks is not None:
        sample['gt_instances'] = dict(masks=np.asarray(gt_masks, bool))
    return sample


def _evaluate(metric, samples):
    metric.dataset_meta = dict(classes=('ground_glass', 'consolidation'))
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def _masks(*arrays):
    return np.stack([np.asarray(a, np.uint8) for a in arrays])


def test_binary_and_per_class(tmp_path):
    _truth(tmp_path, 'binary', GGO | CONS)
    _truth(tmp_path, 'ggo', GGO, mode='1')  # Inf-Net's GT-1 / GT-2 are 1-bit images
    _truth(tmp_path, 'cons', CONS, mode='1')
    metric = LesionDiceMetric(gt_dir='binary', data_root=str(tmp_path),
                              class_gt_dirs=dict(ground_glass='ggo', consolidation='cons'))
    # each class found where it is, with probability 1 and score 0.8 / 0.4
    sample = _sample(_masks([[255, 0], [0, 0]], [[0, 0], [0, 255]]), [0.8, 0.4], [0, 1])
    results = _evaluate(metric, [sample])
    # binary map 0.8 / 0.4 -> stored 204 / 102 -> 1 and 0.5 after
    # normalising: Dice 1/2 x 2 / (1 + 2) = 2/3 while t > 0.5, 1 down to t > 0, 4/6 at 0
    high = np.sum(np.linspace(1, 0, 256) > 0.5 + 1e-9)
    expected = (high * 2 / 3 + (255 - high) * 1 + 4 / 6) / 256
    assert results['dice/meanDic'] == pytest.approx(expected)
    assert results['dice/maxDic'] == pytest.approx(1)
    # per class: each class's map alone is perfect after normalisation
    assert results['dice/ground_glass_meanDic'] == pytest.approx(PERFECT_ONE)
    assert results['dice/consolidation_meanDic'] == pytest.approx(PERFECT_ONE)
    assert set(results) >= {'dice/meanSen', 'dice/maxSen', 'dice/meanSpe', 'dice/maxSpe',
                            'dice/consolidation_maxDic'}


def test_probability_alone_and_score_threshold(tmp_path):
    _truth(tmp_path, 'binary', GGO | CONS)
    sample = _sample(_masks([[255, 0], [0, 0]], [[0, 0], [0, 255]]), [0.9, 0.45], [0, 0])
    prob = _evaluate(LesionDiceMetric(gt_dir=str(tmp_path / 'binary'), score_weighted=False),
                     [sample])
    assert prob['dice/meanDic'] == pytest.approx(PERFECT_TWO)
    # the second lesion's detection left out: half the truth found at every t > 0
    half = _evaluate(LesionDiceMetric(gt_dir=str(tmp_path / 'binary'), score_thr=0.5),
                     [sample])
    assert half['dice/meanDic'] == pytest.approx((255 * 2 / 3 + 4 / 6) / 256)


def test_truth_from_the_samples_masks_without_gt_dir():
    sample = _sample(_masks([[255, 0], [0, 0]]), [0.8], [0], gt_masks=[GGO > 0])
    results = _evaluate(LesionDiceMetric(), [sample])
    assert results['dice/meanDic'] == pytest.approx(PERFECT_ONE)


def test_no_detection_scores_only_the_whole_slice_threshold(tmp_path):
    _truth(tmp_path, 'binary', GGO)
    sample = _sample(np.zeros((0, 2, 2), np.uint8), [], [])
    results = _evaluate(LesionDiceMetric(gt_dir=str(tmp_path / 'binary')), [sample])
    assert results['dice/meanDic'] == pytest.approx(0.4 / 256)


def test_errors_name_what_is_missing(tmp_path):
    (tmp_path / 'empty').mkdir()
    sample = _sample(_masks([[255, 0], [0, 0]]), [0.8], [0])
    with pytest.raises(FileNotFoundError, match=r"empty: no truth image for slice 's1'"):
        _evaluate(LesionDiceMetric(gt_dir=str(tmp_path / 'empty')), [sample])
    with pytest.raises(KeyError, match='no gt_dir was given'):
        _evaluate(LesionDiceMetric(), [sample])
    _truth(tmp_path, 'ggo', GGO)
    with pytest.raises(KeyError, match="'lesion', which is not a class"):
        _evaluate(LesionDiceMetric(gt_dir=str(tmp_path / 'ggo'),
                                   class_gt_dirs=dict(lesion=str(tmp_path / 'ggo'))),
                  [sample])


def test_runner_points_the_metric_at_seg_data_root(tmp_path):
    from mmengine.config import Config
    cfg = Config(dict(seg_data_root=str(tmp_path),
                      test_evaluator=[dict(type='LesionDiceMetric', data_root='data/x/',
                                           gt_dir='gt/binary')]))
    lines = apply_dataset_settings(cfg, check_roots=True)
    assert cfg.test_evaluator[0]['data_root'] == str(tmp_path)
    assert any('seg_data_root' in line for line in lines)
