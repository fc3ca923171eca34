# SSM, ResNet34 blocks 1-3 + FPN, augmented RoI layer (13.66M).
_base_ = './ssm_r18-b3-aug_50e_cncb-covidx.py'
model = dict(backbone=dict(depth=34))
