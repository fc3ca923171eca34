"""PackSSMInputs and BodyCrop: what each task's sample carries."""
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks

from mmdet_covid.datasets.transforms import BodyCrop, PackSSMInputs


def image(h=32, w=40):
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), np.uint8)


def test_classification_sample_has_gt_label_and_no_instances():
    packed = PackSSMInputs()(dict(img=image(), img_path='a.png', gt_label=2,
                                  img_shape=(32, 40), ori_shape=(32, 40)))
    sample = packed['data_samples']
    assert packed['inputs'].shape == (3, 32, 40) and packed['inputs'].dtype == torch.uint8
    assert 'gt_label' in sample
    assert sample.gt_label.dtype == torch.long and sample.gt_label.tolist() == [2]
    assert not hasattr(sample, 'gt_instances') and not hasattr(sample, 'ignored_instances')
    assert sample.img_path == 'a.png'


def test_segmentation_sample_is_packed_like_pack_det_inputs():
    masks = np.zeros((2, 32, 40), np.uint8)
    masks[0, 2:8, 3:9] = masks[1, 10:20, 10:30] = 1
    results = dict(img=image(), gt_bboxes=HorizontalBoxes(np.array(
        [[3, 2, 9, 8], [10, 10, 30, 20]], np.float32)), gt_bboxes_labels=np.array([0, 0]),
                   gt_masks=BitmapMasks(masks, 32, 40),
                   gt_ignore_flags=np.array([False, False]))
    sample = PackSSMInputs()(results)['data_samples']
    assert 'gt_label' not in sample
    assert len(sample.gt_instances) == 2
    assert sample.gt_instances.masks.masks.shape == (2, 32, 40)


def test_body_crop_crops_only_samples_with_a_crop_box():
    img = image()
    out = BodyCrop()(dict(img=img, crop_bbox=[5, 4, 25, 30], img_shape=(32, 40)))
    np.testing.assert_array_equal(out['img'], img[4:30, 5:25])
    assert out['img_shape'] == (26, 20)
    untouched = BodyCrop()(dict(img=img, img_shape=(32, 40)))
    assert untouched['img'] is img
    with pytest.raises(ValueError, match=r'crop_bbox \[5, 4, 41, 30\] is not inside the 40x32'):
        BodyCrop()(dict(img=img, crop_bbox=[5, 4, 41, 30], img_path='x.png'))
