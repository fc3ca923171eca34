"""compare_precision.py: how a second run's slice classes and lesions differ from the first."""
import os.path as osp
import sys

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from tests.conftest import load_tool, needs_bf16

compare_predictions = load_tool('analysis_tools/compare_precision.py').compare_predictions


def _sample(label: int, probs, boxes, scores, size: int = 32) -> DetDataSample:
    sample = DetDataSample()
    sample.pred_score = torch.tensor(probs)
    sample.pred_label = torch.tensor([label])
    masks = torch.zeros(len(boxes), size, size, dtype=torch.bool)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        masks[k, y1:y2, x1:x2] = True
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float32).view(-1, 4),
        scores=torch.tensor(scores), labels=torch.zeros(len(boxes), dtype=torch.long),
        masks=masks)
    return sample


def test_identical_runs_agree_everywhere():
    ref = [_sample(2, [0.1, 0.2, 0.7], [[2, 2, 12, 12], [16, 16, 30, 30]], [0.9, 0.8])]
    out = compare_predictions(ref, ref)
    assert out['class_agreement'] == 1.0 and out['max_abs_prob_diff'] == 0.0
    assert out['lesions_reference'] == out['lesions_other'] == out['lesions_matched'] == 2
    assert out['mean_mask_iou'] == 1.0 and out['max_abs_score_diff'] == 0.0


def test_differences_are_counted():
    ref = [_sample(2, [0.1, 0.2, 0.7], [[2, 2, 12, 12], [16, 16, 30, 30]], [0.9, 0.8]),
           _sample(0, [0.6, 0.3, 0.1], [], [])]
    # slice 1: the first lesion one pixel wider (box IoU 10/11 >= 0.9, mask IoU 100/110),
    # the second moved away (no match), one more lesion; slice 2: another class
    other = [_sample(2, [0.1, 0.25, 0.65], [[2, 2, 13, 12], [20, 20, 30, 30], [0, 0, 4, 4]],
                     [0.85, 0.8, 0.1]),
             _sample(1, [0.4, 0.5, 0.1], [], [])]
    out = compare_predictions(ref, other)
    assert out['slices'] == 2 and out['class_agreement'] == 0.5
    assert out['max_abs_prob_diff'] == pytest.approx(0.2)
    assert (out['lesions_reference'], out['lesions_other'], out['lesions_matched']) == (2, 3, 1)
    assert out['mean_mask_iou'] == pytest.approx(100 / 110)
    assert out['max_abs_score_diff'] == pytest.approx(0.05)


def test_lists_of_different_lengths_are_refused():
    ref = [_sample(0, [1.0, 0.0, 0.0], [], [])]
    with pytest.raises(ValueError, match='1 reference samples but 0'):
        compare_predictions(ref, [])


@needs_bf16
def test_cpu_run_compares_bf16_with_float32(prepared_phantom, tmp_path):
    import json

    from tests.conftest import run_command, save_untrained, tiny_ssm_cfg

    cfg = tiny_ssm_cfg(prepared_phantom, str(tmp_path))
    cfg.model.test_cfg.rcnn.score_thr = 0.0  # the untrained model's lesions, all of them
    config, checkpoint = save_untrained(cfg, tmp_path, 'tiny_ssm')
    out = str(tmp_path / 'compare.json')
    proc = run_command(
        [sys.executable, 'tools/analysis_tools/compare_precision.py', config, checkpoint,
         osp.join(prepared_phantom, 'cls', 'test'), '--device', 'cpu', '--batch-size', '2',
         '--out', out])
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as f:
        result = json.load(f)
    assert result['precision'] == 'bfloat16 arithmetic (cpu_bf16) vs float32'
    assert result['slices'] > 0 and result['gpu'] is None
    assert 0 < result['lesions_reference'] and result['lesions_matched'] > 0
    assert 0 < result['max_abs_prob_diff'] < 0.1  # rounded, not another model
