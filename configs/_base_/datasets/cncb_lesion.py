# CNCB-nCoV lesion set (instance segmentation, one class "lesion"), as written by
# tools/dataset_converters/cncb_to_coco.py. Default: the phantom of
# `bash tools/prepare_phantom.sh data/phantom`. Names are prefixed with seg_ so that a
# config can inherit this file and covidx_ct.py together.
#
# Point a config at your data with the top-level keys, from the command line
# (`--cfg-options seg_data_root=/data/cncb/`) or in an inheriting config
# (`seg_data_root = '/data/cncb/'`); the same for the image size (seg_img_scale).
# SSMRunner applies them to every lesion-set dataset and metric when the run
# starts (MMEngine has resolved the values below by then).
seg_dataset_type = 'LesionSegDataset'
seg_data_root = 'data/phantom/'
seg_img_scale = (512, 512)  # (width, height) every lesion slice is resized to
seg_backend_args = None

seg_train_pipeline = [
    dict(type='LoadCTSlice', backend_args=seg_backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    # CNCB slices are 512x512 already; the resize keeps other sizes consistent.
    dict(type='Resize', scale=seg_img_scale, keep_ratio=False),
    dict(type='PackSSMInputs'),
]
seg_test_pipeline = [
    dict(type='LoadCTSlice', backend_args=seg_backend_args),
    dict(type='Resize', scale=seg_img_scale, keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackSSMInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

# Training: slices with lesions only (the converter already drops the others).
seg_train_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=seg_dataset_type,
        data_root=seg_data_root,
        ann_file='annotations/lesion_train.json',
        data_prefix=dict(img='seg/image/'),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=seg_train_pipeline,
        backend_args=seg_backend_args))
# Test: every slice of the test scans, slices without lesions included.
seg_test_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=seg_dataset_type,
        data_root=seg_data_root,
        ann_file='annotations/lesion_test.json',
        data_prefix=dict(img='seg/image/'),
        test_mode=True,
        pipeline=seg_test_pipeline,
        backend_args=seg_backend_args))
seg_test_evaluator = dict(
    type='LesionCocoMetric',
    prefix='seg',  # seg/bbox_mAP_50, seg/segm_mAP, ...
    data_root=seg_data_root,
    ann_file='annotations/lesion_test.json',
    metric=['bbox', 'segm'],
    format_only=False,
    backend_args=seg_backend_args)
