# The SSM on ResNet18 blocks 1-2: the feature map has stride 8 and 128 channels.
_base_ = './ssm_r18-b3.py'
model = dict(
    backbone=dict(num_blocks=2),
    neck=dict(in_channels=[128]),
    rpn_head=dict(anchor_generator=dict(strides=[8])),
    roi_head=dict(
        bbox_roi_extractor=dict(featmap_strides=[8]),
        mask_roi_extractor=dict(featmap_strides=[8])))
