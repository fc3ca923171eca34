# The paper's baseline: a plain ResNet18 image classifier trained from scratch
# on the classification data (global average pooling + one linear layer).
custom_imports = dict(imports=['mmdet_covid'], allow_failed_imports=False)

model = dict(
    type='SliceClassifier',
    num_classes=3,  # classes: the classification dataset's (SliceClassifier's default)
    in_channels=512,
    loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    # ImageNet mean/std and BGR->RGB as the SSM's preprocessor (statistics only)
    data_preprocessor=dict(
        type='DualTaskDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(
        type='ResNet',
        depth=18,
        num_stages=4,
        out_indices=(3, ),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        # from scratch: BN must update its running statistics while training
        norm_eval=False,
        style='pytorch',
        init_cfg=None))  # Kaiming convs, no pretrained weights
