# SSM, ResNet34 blocks 1-2 + FPN, base RoI layer (5.17M).
_base_ = './ssm_r34-b2-aug_50e_cncb-covidx.py'
model = dict(roi_head=dict(augmented=False))
