"""The released variant's resolved config holds the values of the paper and
the reference code (``../shared/REFERENCE.md``), so that a change in a base
config cannot drift from them unnoticed."""
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from torch.nn.modules.batchnorm import _BatchNorm

from tests.conftest import CONFIG_DIR

RELEASED = osp.join(CONFIG_DIR, 'ssm', 'ssm_r18-b3-aug_50e_cncb-covidx.py')


@pytest.fixture(scope='module')
def cfg():
    return Config.fromfile(RELEASED)


def test_backbone_and_neck(cfg):
    backbone, neck = cfg.model.backbone, cfg.model.neck
    assert (backbone.type, backbone.depth, backbone.num_blocks) == ('TruncatedResNet', 18, 3)
    assert backbone.init_cfg is None  # from scratch, no ImageNet weights
    assert backbone.norm_cfg == dict(type='BN', requires_grad=True)
    assert backbone.zero_init_residual is False
    assert (neck.in_channels, neck.out_channels, neck.num_outs) == ([256], 256, 1)


def test_rpn(cfg):
    rpn, train, test = cfg.model.rpn_head, cfg.model.train_cfg, cfg.model.test_cfg
    anchors = rpn.anchor_generator
    assert anchors.base_sizes == [1] and anchors.scales == [2, 4, 8, 16, 32]
    assert anchors.ratios == [0.1, 0.25, 0.5, 1.0, 1.5, 2.0]
    assert (train.rpn.assigner.pos_iou_thr, train.rpn.assigner.neg_iou_thr) == (0.7, 0.3)
    assert (train.rpn.sampler.num, train.rpn.sampler.pos_fraction) == (256, 0.5)
    for stage in (train.rpn_proposal, test.rpn):
        assert stage.nms.iou_threshold == 0.75
        assert (stage.nms_pre, stage.max_per_img) == (2000, 1000)


def test_roi_branches(cfg):
    roi, train, test = cfg.model.roi_head, cfg.model.train_cfg, cfg.model.test_cfg
    assert roi.type == 'AugmentedRoIHead' and roi.augmented is True
    for extractor, size in ((roi.bbox_roi_extractor, 7), (roi.mask_roi_extractor, 14)):
        layer = extractor.roi_layer
        assert (layer.output_size, layer.sampling_ratio, layer.aligned) == (size, 2, False)
    box = roi.bbox_head
    assert (box.type, box.fc_out_channels, box.num_classes) == ('Shared2FCBBoxHead', 128, 1)
    assert box.loss_bbox == dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0)
    assert box.loss_cls.type == 'CrossEntropyLoss' and not box.loss_cls.use_sigmoid
    mask = roi.mask_head
    assert (mask.num_convs, mask.conv_out_channels, mask.num_classes) == (1, 128, 1)
    assert (train.rcnn.sampler.num, train.rcnn.sampler.pos_fraction) == (512, 0.25)
    assert (train.rcnn.assigner.pos_iou_thr, train.rcnn.assigner.neg_iou_thr) == (0.5, 0.5)
    assert test.rcnn.score_thr == 0.75 and test.rcnn.nms.iou_threshold == 0.5
    assert (test.rcnn.max_per_img, test.rcnn.mask_thr_binary) == (128, 0.5)


def test_roi_batch_and_classifier(cfg):
    sel = cfg.model.roi_head.roi_batch_selection
    assert (sel.num_rois, sel.nms_iou, sel.score_thr, sel.min_area) == (128, 0.75, -0.01, 1e-5)
    assert sel.row_content == 'deltas'
    s = cfg.model.classifier
    assert s.type == 'ImageClassifierS' and s.hidden_channels == 512
    assert cfg.model.update_rule == 's_and_backbone'  # paper rule 2
    assert cfg.model.cls_step_norm_eval is True  # reference: model.eval() in that step


def test_schedule(cfg):
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.weight_decay) == ('Adam', 1e-5, 1e-3)
    assert cfg.param_scheduler == []
    assert cfg.train_cfg.max_epochs == 50
    assert cfg.train_dataloader.batch_size == 1
    assert cfg.train_cfg.seg_dataloader.batch_size == 1
    sync = [h for h in cfg.custom_hooks if h.type == 'ImageBranchSyncHook']
    assert len(sync) == 1 and sync[0].policy == 'on_best_seg_loss'


def test_built_model_initialisation(cfg):
    """What the config says reaches the modules: torchvision-style residual
    blocks (last BatchNorm at weight 1), non-aligned RoIAlign, smooth L1."""
    model = MODELS.build(cfg.model)
    model.init_weights()
    last_bns = [block.bn2 for layer in (model.backbone.layer1, model.backbone.layer2,
                                        model.backbone.layer3) for block in layer]
    assert last_bns and all(torch.all(bn.weight == 1) for bn in last_bns)
    assert all(isinstance(bn, _BatchNorm) for bn in last_bns)
    roi = model.roi_head
    for extractor in (roi.bbox_roi_extractor, roi.mask_roi_extractor):
        assert all(layer.aligned is False for layer in extractor.roi_layers)
    assert type(roi.bbox_head.loss_bbox).__name__ == 'SmoothL1Loss'
    assert roi.bbox_head.loss_bbox.beta == 1.0
    assert model.cls_step_norm_eval is True
