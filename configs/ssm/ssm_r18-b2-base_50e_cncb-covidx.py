# SSM, ResNet18 blocks 1-2 + FPN, base RoI layer (4.51M).
_base_ = './ssm_r18-b2-aug_50e_cncb-covidx.py'
model = dict(roi_head=dict(augmented=False))
