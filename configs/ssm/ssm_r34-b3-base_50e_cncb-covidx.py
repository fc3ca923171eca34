# SSM, ResNet34 blocks 1-3 + FPN, base RoI layer (12.04M).
_base_ = './ssm_r34-b3-aug_50e_cncb-covidx.py'
model = dict(roi_head=dict(augmented=False))
