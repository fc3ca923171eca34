# Base SSM, stage 1 of 2 (paper section III-B): Mask R-CNN pretraining of the
# ResNet18 blocks 1-3 base model on the lesion set alone, 50 epochs. Stage 2,
# joint training from this checkpoint: ssm_r18-b3-base_50e_cncb-covidx.py.
# S is part of the model (so the checkpoint loads as is) but sees no data yet.
_base_ = [
    '../_base_/models/ssm_r18-b3.py',
    '../_base_/datasets/cncb_lesion_only.py',
    '../_base_/schedules/ssm_adam_50e.py',
    '../_base_/ssm_runtime.py',
]
model = dict(roi_head=dict(augmented=False))
default_hooks = dict(checkpoint=dict(save_best='seg/segm_mAP'))
