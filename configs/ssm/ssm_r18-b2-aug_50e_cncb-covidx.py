# SSM, ResNet18 blocks 1-2 + FPN (stride 8, 128 channels), augmented (6.13M).
_base_ = [
    '../_base_/models/ssm_r18-b2.py',
    '../_base_/datasets/ssm_cncb_covidx.py',
    '../_base_/schedules/ssm_adam_50e.py',
    '../_base_/ssm_runtime.py',
]
