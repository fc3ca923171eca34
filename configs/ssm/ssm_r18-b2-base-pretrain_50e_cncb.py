# Base SSM ResNet18 blocks 1-2, stage 1: segmentation pretraining (see r18-b3).
_base_ = [
    '../_base_/models/ssm_r18-b2.py',
    '../_base_/datasets/cncb_lesion_only.py',
    '../_base_/schedules/ssm_adam_50e.py',
    '../_base_/ssm_runtime.py',
]
model = dict(roi_head=dict(augmented=False))
default_hooks = dict(checkpoint=dict(save_best='seg/segm_mAP'))
