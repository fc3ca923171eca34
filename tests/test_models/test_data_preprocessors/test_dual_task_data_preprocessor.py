"""DualTaskDataPreprocessor: mmdet's DetDataPreprocessor for batches of either task,
a training batch that mixes them refused."""
import copy

import numpy as np
import pytest
import torch
from mmdet.registry import MODELS

from mmdet_covid.datasets.transforms import PackSSMInputs
from mmdet_covid.models.data_preprocessors import batch_task
from tests.conftest import model_cfg, seg_batch


def _preprocessors():
    """The SSM config's preprocessor, and mmdet's with the same settings."""
    cfg = model_cfg().data_preprocessor
    assert cfg.type == 'DualTaskDataPreprocessor' and cfg.pad_mask
    return MODELS.build(cfg), MODELS.build(dict(cfg, type='DetDataPreprocessor'))


def _cls_batch(labels=(0, 2), size: int = 100) -> dict:
    """Classification slices as the pipeline packs them: ``gt_label``, no instances."""
    rng = np.random.default_rng(0)
    packed = [PackSSMInputs().transform(dict(
        img=rng.integers(0, 255, (size, size, 3), dtype=np.uint8), gt_label=label,
        img_shape=(size, size), ori_shape=(size, size), scale_factor=(1.0, 1.0)))
        for label in labels]
    return dict(inputs=[p['inputs'] for p in packed],
                data_samples=[p['data_samples'] for p in packed])


def test_a_segmentation_batch_is_mmdets():
    ours, stock = _preprocessors()
    batch = seg_batch(2, size=100)
    got, expected = ours(copy.deepcopy(batch), True), stock(copy.deepcopy(batch), True)
    assert got['inputs'].shape == (2, 3, 128, 128)  # padded to a multiple of 32
    assert torch.equal(got['inputs'], expected['inputs'])
    for a, b in zip(got['data_samples'], expected['data_samples']):
        assert a.batch_input_shape == (128, 128)
        masks = a.gt_instances.masks
        assert (masks.height, masks.width) == (128, 128)  # padded with the images
        assert np.array_equal(masks.masks, b.gt_instances.masks.masks)
        assert masks.masks[:, 100:].sum() == masks.masks[:, :, 100:].sum() == 0


def test_a_classification_batch_has_no_masks_to_pad():
    ours, stock = _preprocessors()
    batch = _cls_batch()
    assert 'gt_instances' not in batch['data_samples'][0]
    got = ours(copy.deepcopy(batch), True)
    with pytest.raises(AttributeError):  # what mmdet's does with these samples
        stock(copy.deepcopy(batch), True)
    assert [int(s.gt_label) for s in got['data_samples']] == [0, 2]
    # normalised as mmdet's: BGR to RGB, minus the mean, over the standard deviation
    img = batch['inputs'][0].float().flip(0)
    mean = torch.tensor([123.675, 116.28, 103.53])[:, None, None]
    std = torch.tensor([58.395, 57.12, 57.375])[:, None, None]
    torch.testing.assert_close(got['inputs'][0, :, :100, :100], (img - mean) / std)
    assert torch.all(got['inputs'][:, :, 100:] == 0)  # padding


def test_a_mixed_training_batch_is_refused_with_its_counts():
    ours, _ = _preprocessors()
    seg, cls = seg_batch(1, size=100), _cls_batch(labels=(1, 2))
    mixed = dict(inputs=seg['inputs'] + cls['inputs'],
                 data_samples=seg['data_samples'] + cls['data_samples'])
    with pytest.raises(ValueError, match=r'a batch mixes 2 classification samples \(with '
                                         r'gt_label\) and 1 segmentation samples; the two '
                                         r'datasets must be loaded by separate dataloaders'):
        ours(copy.deepcopy(mixed), True)
    # not checked outside training (no truth is read, no mask padded): all three pass
    assert ours(copy.deepcopy(mixed), False)['inputs'].shape == (3, 3, 128, 128)


def test_batch_task():
    seg, cls = seg_batch(2)['data_samples'], _cls_batch()['data_samples']
    assert batch_task(seg) == 'seg' and batch_task(cls) == 'cls'
    with pytest.raises(ValueError, match='1 classification samples'):
        batch_task(seg + cls[:1])
