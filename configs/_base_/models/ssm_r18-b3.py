# The Single Shot Model with the augmented RoI layer: ResNet18 blocks 1-3, one
# FPN level (stride 16), the released model of the paper (8.27M parameters).
# Everything not set here is mmdet's stock Mask R-CNN.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'

custom_imports = dict(imports=['mmdet_covid'], allow_failed_imports=False)

model = dict(
    type='DualTaskDetector',
    # Classification step updates S + backbone (paper rule 2, the best).
    update_rule='s_and_backbone',
    # ... with every BatchNorm in eval mode in that step, as the reference's
    # model.eval(): classification images never change the running statistics
    cls_step_norm_eval=True,
    # stock DetDataPreprocessor (ImageNet mean/std, BGR->RGB) + a check that
    # a batch does not mix segmentation and classification samples
    data_preprocessor=dict(type='DualTaskDataPreprocessor'),
    backbone=dict(
        _delete_=True,
        type='TruncatedResNet',
        depth=18,
        num_blocks=3,
        norm_cfg=dict(type='BN', requires_grad=True),
        # the reference's (torchvision's) residual blocks start with the last
        # BatchNorm at weight 1, not 0 as mmdet's ResNet does by default
        zero_init_residual=False,
        init_cfg=None),  # trained from scratch: no ImageNet weights
    neck=dict(in_channels=[256], num_outs=1),
    rpn_head=dict(
        # the stock RPNHead, its proposals post-processed for the whole batch
        # at once (the same ones), its convolutions in bfloat16 where
        # model.cpu_bf16 says
        type='BatchRPNHead',
        anchor_generator=dict(
            # sizes 2..32 px (base size 1) x 6 ratios = 30 anchors per location
            scales=[2, 4, 8, 16, 32],
            ratios=[0.1, 0.25, 0.5, 1.0, 1.5, 2.0],
            base_sizes=[1],
            strides=[16])),
    roi_head=dict(
        type='AugmentedRoIHead',
        augmented=True,
        roi_batch_selection=dict(
            type='RoIBatchSelection', num_rois=128, nms_iou=0.75,
            score_thr=-0.01, min_area=1e-5, row_content='deltas'),
        # RoIAlign 7x7 / 14x14, sampling ratio 2, computed as a sparse matrix
        # product (mmcv's CPU kernel is single-threaded; same output). Not
        # aligned (no half-pixel shift), the convention of the reference's
        # torchvision 0.3 RoIAlign.
        bbox_roi_extractor=dict(
            type='SingleLevelRoIExtractor',
            roi_layer=dict(_delete_=True, type='SparseRoIAlign', output_size=7,
                           sampling_ratio=2, aligned=False),
            featmap_strides=[16]),
        bbox_head=dict(
            fc_out_channels=128, num_classes=1,
            # paper eq. 4b and the reference: smooth L1 with beta 1 (mmdet's
            # stock Mask R-CNN uses L1)
            loss_bbox=dict(_delete_=True, type='SmoothL1Loss', beta=1.0, loss_weight=1.0)),
        mask_roi_extractor=dict(
            type='SingleLevelRoIExtractor',
            roi_layer=dict(_delete_=True, type='SparseRoIAlign', output_size=14,
                           sampling_ratio=2, aligned=False),
            featmap_strides=[16]),
        mask_head=dict(
            type='BatchPasteMaskHead', num_convs=1, conv_out_channels=128,
            num_classes=1)),
    classifier=dict(type='ImageClassifierS', hidden_channels=512),
    train_cfg=dict(
        # The reference (torchvision) makes the best anchors of every lesion
        # positive whatever their IoU; mmdet asks for >= 0.3 by default, which
        # the largest 32 px anchor misses for lesions over ~58 px.
        # SyncFreeMaxIoUAssigner: mmdet's MaxIoUAssigner, the same assignment
        # without its per-lesion reads of GPU values.
        rpn=dict(assigner=dict(type='SyncFreeMaxIoUAssigner', min_pos_iou=0.0)),
        rpn_proposal=dict(nms=dict(iou_threshold=0.75)),
        rcnn=dict(assigner=dict(type='SyncFreeMaxIoUAssigner'))),
    test_cfg=dict(
        rpn=dict(nms_pre=2000, nms=dict(iou_threshold=0.75)),
        rcnn=dict(score_thr=0.75, max_per_img=128)))
