"""LesionCocoMetric: CocoMetric's numbers, and defined ones when nothing is detected."""
import json

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from mmdet.evaluation import CocoMetric

from mmdet_covid.evaluation import LesionCocoMetric


def _coco_file(tmp_path, with_lesion: bool) -> str:
    mask = np.zeros((32, 32), np.uint8)
    mask[8:20, 4:16] = 1
    rle = mask_util.encode(np.asfortranarray(mask))
    rle['counts'] = rle['counts'].decode()
    anns = [dict(id=1, image_id=1, category_id=1, bbox=[4, 8, 12, 12], area=144,
                 iscrowd=0, segmentation=rle)] if with_lesion else []
    coco = dict(images=[dict(id=i, file_name=f'{i}.png', width=32, height=32) for i in (1, 2)],
                annotations=anns, categories=[dict(id=1, name='lesion')])
    path = tmp_path / 'lesion.json'
    path.write_text(json.dumps(coco))
    return str(path), mask


def _samples(mask=None):
    def pred(m):
        if m is None:
            return dict(bboxes=torch.zeros(0, 4), scores=torch.zeros(0),
                        labels=torch.zeros(0, dtype=torch.long),
                        masks=torch.zeros(0, 32, 32, dtype=torch.bool))
        return dict(bboxes=torch.tensor([[4., 8., 16., 20.]]), scores=torch.ones(1),
                    labels=torch.zeros(1, dtype=torch.long),
                    masks=torch.from_numpy(m).bool()[None])
    return [dict(img_id=1, ori_shape=(32, 32), pred_instances=pred(mask)),
            dict(img_id=2, ori_shape=(32, 32), pred_instances=pred(None))]


def _evaluate(metric_type, ann_file, samples):
    metric = metric_type(ann_file=ann_file, metric=['bbox', 'segm'], prefix='seg')
    metric.dataset_meta = dict(classes=('lesion',))
    metric.process({}, samples)
    return metric.evaluate(len(samples))


@pytest.mark.parametrize('with_lesion,value', [(True, 0.0), (False, -1.0)])
def test_no_detection_gives_every_key(tmp_path, with_lesion, value):
    ann_file, _ = _coco_file(tmp_path, with_lesion)
    assert _evaluate(CocoMetric, ann_file, _samples()) == {}  # what mmdet does
    results = _evaluate(LesionCocoMetric, ann_file, _samples())
    assert sorted(results) == sorted(f'seg/{m}_{k}' for m in ('bbox', 'segm') for k in (
        'mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l'))
    assert set(results.values()) == {value}


def test_with_detections_equals_coco_metric(tmp_path):
    ann_file, mask = _coco_file(tmp_path, True)
    ours = _evaluate(LesionCocoMetric, ann_file, _samples(mask))
    assert ours == _evaluate(CocoMetric, ann_file, _samples(mask))
    assert ours['seg/segm_mAP'] == pytest.approx(1.0)


@pytest.mark.parametrize('score,score_thr,expected', [
    (0.9, 0.75, 1.0), (0.5, 0.75, 0.0), (0.5, 0.0, 1.0)])
def test_score_threshold_counts_only_confident_detections(tmp_path, score, score_thr,
                                                          expected):
    ann_file, mask = _coco_file(tmp_path, True)
    samples = _samples(mask)
    samples[0]['pred_instances']['scores'] = torch.tensor([score])
    metric = LesionCocoMetric(ann_file=ann_file, metric=['bbox', 'segm'], prefix='seg',
                              score_thr=score_thr)
    metric.dataset_meta = dict(classes=('lesion',))
    metric.process({}, samples)
    assert metric.evaluate(2)['seg/segm_mAP_50'] == pytest.approx(expected)


def test_probability_masks_are_binarised_at_half(tmp_path):
    """uint8 probability masks (mask_thr_binary=-1, for LesionDiceMetric) score as the
    bool masks the model would have returned; probabilities just below 0.5 are out."""
    ann_file, mask = _coco_file(tmp_path, True)
    probs = np.where(mask > 0, 200, 0).astype(np.uint8)
    probs[0:8, 0:32] = 127  # round(255 x 0.498): below 0.5, not part of the lesion
    samples = _samples(mask)
    samples[0]['pred_instances']['masks'] = torch.from_numpy(probs)[None]
    ours = _evaluate(LesionCocoMetric, ann_file, samples)
    assert ours['seg/segm_mAP'] == pytest.approx(1.0)
    probs[0:8, 0:32] = 128  # round(255 x 0.5): in, and the mask no longer fits the lesion
    ours = _evaluate(LesionCocoMetric, ann_file, samples)
    assert ours['seg/segm_mAP'] < 0.5
