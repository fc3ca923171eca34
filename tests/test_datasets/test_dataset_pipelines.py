"""The dataset config pieces build through mmdet's registry on a prepared phantom."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmdet.registry import DATASETS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASES = [osp.join(REPO, 'configs', '_base_', 'datasets', f) for f in
         ('cncb_lesion.py', 'covidx_ct.py')]


@pytest.fixture(scope='module')
def cfg(tmp_path_factory):
    # Both pieces inherited together, as a model config does: no name may clash.
    path = tmp_path_factory.mktemp('cfg') / 'both.py'
    path.write_text(f'_base_ = {BASES!r}\n')
    return Config.fromfile(str(path))


def build(cfg, key, root):
    dataset_cfg = cfg[key].dataset.copy()
    dataset_cfg['data_root'] = root
    return DATASETS.build(dataset_cfg)


def test_config_pieces_define_the_dataloaders(cfg):
    for key in ('seg_train_dataloader', 'seg_test_dataloader', 'cls_train_dataloader',
                'cls_val_dataloader', 'cls_test_dataloader'):
        loader = cfg[key]
        # the classification train split drives the SSM loop, which resumes
        # part-way through an epoch with ResumableDefaultSampler
        sampler = 'ResumableDefaultSampler' if key == 'cls_train_dataloader' else 'DefaultSampler'
        assert loader.batch_size == 1 and loader.sampler.type == sampler
        assert loader.sampler.shuffle == key.endswith('train_dataloader')
        assert loader.dataset.data_root == 'data/phantom/'
    assert cfg.seg_test_evaluator == dict(
        type='LesionCocoMetric', prefix='seg', data_root='data/phantom/',
        ann_file='annotations/lesion_test.json', metric=['bbox', 'segm'], format_only=False,
        backend_args=None)


def test_segmentation_samples(cfg, prepared_phantom, registered):
    train = build(cfg, 'seg_train_dataloader', prepared_phantom)
    test = build(cfg, 'seg_test_dataloader', prepared_phantom)
    assert len(train) > 0 and len(test) > 0
    train_scans = {info['img_path'].split('/')[-2] for info in train.load_data_list()}
    test_scans = {info['img_path'].split('/')[-2] for info in test.load_data_list()}
    assert not train_scans & test_scans  # split by scan
    sample = train[0]
    inputs, data_sample = sample['inputs'], sample['data_samples']
    assert inputs.shape == (3, 512, 512) and inputs.dtype == torch.uint8
    assert 'gt_label' not in data_sample
    gt = data_sample.gt_instances
    assert isinstance(gt, InstanceData) and len(gt) > 0
    assert gt.masks.masks.shape == (len(gt), 512, 512) and gt.labels.unique().tolist() == [0]
    boxes = gt.bboxes.tensor
    assert (boxes[:, 2:] > boxes[:, :2]).all() and boxes.max() <= 512
    # Test images keep their original size in the meta data (for CocoMetric).
    meta = test[0]['data_samples'].metainfo
    assert meta['ori_shape'] == (128, 128) and meta['img_shape'] == (512, 512)


def test_classification_samples(cfg, prepared_phantom, registered):
    labels = set()
    for key, n in (('cls_train_dataloader', 12), ('cls_val_dataloader', 3),
                   ('cls_test_dataloader', 3)):
        dataset = build(cfg, key, prepared_phantom)
        assert len(dataset) == n
        labels |= set(dataset.get_gt_labels().tolist())
    sample = dataset[len(dataset) - 1]
    inputs, data_sample = sample['inputs'], sample['data_samples']
    assert inputs.shape == (3, 512, 512) and inputs.dtype == torch.uint8
    assert data_sample.gt_label.shape == (1, ) and data_sample.gt_label.dtype == torch.long
    assert not hasattr(data_sample, 'gt_instances')
    assert labels == {0, 1, 2}
    # The grey slice is replicated to three identical channels.
    assert torch.equal(inputs[0], inputs[1]) and torch.equal(inputs[1], inputs[2])


def test_coco_metric_scores_perfect_predictions_one(cfg, prepared_phantom, registered):
    """The converted lesion file and the packed test samples agree with CocoMetric."""
    from mmdet.registry import METRICS

    test_cfg = cfg.seg_test_dataloader.dataset.copy()
    test_cfg['data_root'] = prepared_phantom
    # Ground truth at the original size, as a perfect model would predict it.
    test_cfg['pipeline'] = [p for p in test_cfg['pipeline'] if p['type'] != 'Resize']
    dataset = DATASETS.build(test_cfg)
    metric = METRICS.build(dict(cfg.seg_test_evaluator,
                                ann_file=prepared_phantom + 'annotations/lesion_test.json'))
    metric.dataset_meta = dataset.metainfo
    samples = []
    for i in range(len(dataset)):
        data_sample = dataset[i]['data_samples']
        gt = data_sample.gt_instances
        pred = dict(bboxes=gt.bboxes.tensor, labels=gt.labels,
                    scores=torch.ones(len(gt)),
                    masks=torch.from_numpy(gt.masks.masks).bool())
        samples.append(dict(img_id=data_sample.img_id, ori_shape=data_sample.ori_shape,
                            pred_instances=pred))
    metric.process({}, samples)
    results = metric.evaluate(len(samples))
    assert results['seg/bbox_mAP_50'] == pytest.approx(1.0)
    assert results['seg/segm_mAP'] == pytest.approx(1.0)
