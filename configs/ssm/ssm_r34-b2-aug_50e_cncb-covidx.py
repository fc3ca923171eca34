# SSM, ResNet34 blocks 1-2 + FPN, augmented RoI layer (6.80M).
_base_ = './ssm_r18-b2-aug_50e_cncb-covidx.py'
model = dict(backbone=dict(depth=34))
