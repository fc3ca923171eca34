# SSM, ResNet18 blocks 1-3 + FPN, augmented RoI layer (Table I: 8.27M).
_base_ = [
    '../_base_/models/ssm_r18-b3.py',
    '../_base_/datasets/ssm_cncb_covidx.py',
    '../_base_/schedules/ssm_adam_50e.py',
    '../_base_/ssm_runtime.py',
]
