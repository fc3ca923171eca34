# Baseline: stock mmdet Mask R-CNN R50-FPN on the lesion set (one class,
# 512x512), trained from scratch with the SSM's optimiser and schedule (the
# paper's comparison uses no ImageNet weights and the same hyperparameters).
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    '../_base_/datasets/cncb_lesion.py',
]
custom_imports = dict(imports=['mmdet_covid'], allow_failed_imports=False)
runner_type = 'mmdet.SSMRunner'  # applies seg_data_root / seg_img_scale (see the SSM configs)

model = dict(
    backbone=dict(init_cfg=None, frozen_stages=-1, norm_eval=False),
    roi_head=dict(bbox_head=dict(num_classes=1), mask_head=dict(num_classes=1)))

train_dataloader = {{_base_.seg_train_dataloader}}
val_dataloader = {{_base_.seg_test_dataloader}}
test_dataloader = {{_base_.seg_test_dataloader}}
val_evaluator = {{_base_.seg_test_evaluator}}
test_evaluator = {{_base_.seg_test_evaluator}}
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50, val_interval=5)
# the SSM's optimiser (configs/_base_/schedules/ssm_adam_50e.py), constant lr
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='Adam', lr=1e-5, weight_decay=1e-3))
param_scheduler = []
default_hooks = dict(checkpoint=dict(interval=5, save_best='seg/segm_mAP', rule='greater'))
