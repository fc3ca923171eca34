# Base SSM ResNet34 blocks 1-3, stage 1: segmentation pretraining (see r18-b3).
_base_ = './ssm_r18-b3-base-pretrain_50e_cncb.py'
model = dict(backbone=dict(depth=34))
