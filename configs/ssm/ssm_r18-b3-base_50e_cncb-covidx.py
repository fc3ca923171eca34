# SSM, ResNet18 blocks 1-3 + FPN, base RoI layer: one RoI branch shared by
# segmentation and S (paper section III-B) (6.64M).
_base_ = './ssm_r18-b3-aug_50e_cncb-covidx.py'
model = dict(roi_head=dict(augmented=False))
# Stage 2 of 2: joint training from the segmentation pretraining (stage 1,
# ssm_r18-b3-base-pretrain_50e_cncb.py), as in the paper.
load_from = 'work_dirs/ssm_r18-b3-base-pretrain_50e_cncb/epoch_50.pth'
