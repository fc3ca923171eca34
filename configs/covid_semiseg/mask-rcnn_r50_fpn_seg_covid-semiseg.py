# Baseline: stock mmdet Mask R-CNN R50-FPN (44M parameters, five FPN levels), trained
# exactly as the SSM in ssm_r18-b3-aug_seg_covid-semiseg.py: the same 50 slices,
# augmentation, optimiser, schedule and test (from scratch: no ImageNet weights, as the
# SSM, and nothing to download).
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/default_runtime.py',
    '../_base_/datasets/covid_semiseg.py',
    '../_base_/schedules/covid_semiseg_60e.py',
]
custom_imports = dict(imports=['mmdet_covid'], allow_failed_imports=False)
runner_type = 'mmdet.SSMRunner'  # applies seg_data_root / seg_img_scale
randomness = dict(seed=0)

model = dict(
    backbone=dict(init_cfg=None, frozen_stages=-1, norm_eval=False),
    roi_head=dict(bbox_head=dict(num_classes=1), mask_head=dict(num_classes=1)),
    test_cfg=dict(rcnn=dict(score_thr=0.05, max_per_img=128)))  # as the SSM
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=10, max_keep_ckpts=1),
    training_data=dict(type='TrainingDataHook'))
