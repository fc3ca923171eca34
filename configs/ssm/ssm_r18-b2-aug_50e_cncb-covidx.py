# SSM, ResNet18 blocks 1-2 + FPN (stride 8, 128 channels), augmented (6.13M).
_base_ = './ssm_r18-b3-aug_50e_cncb-covidx.py'
model = dict(
    backbone=dict(num_blocks=2),
    neck=dict(in_channels=[128]),
    rpn_head=dict(anchor_generator=dict(strides=[8])),
    roi_head=dict(
        bbox_roi_extractor=dict(featmap_strides=[8]),
        mask_roi_extractor=dict(featmap_strides=[8])))
