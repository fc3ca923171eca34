# COVIDx-CT slice classification (Normal / CP / COVID-19), annotation files written by
# tools/dataset_converters/covidx_ct.py with img_path relative to <data_root>/cls/.
# Default: the phantom of `bash tools/prepare_phantom.sh data/phantom`. Names are
# prefixed with cls_ so that a config can inherit this file and cncb_lesion.py together.
#
# Point a config at your data with `--cfg-options cls_data_root=/data/covidx/` or
# `cls_data_root = '/data/covidx/'` in an inheriting config (cls_img_scale for the
# image size): SSMRunner applies them to every classification dataset.
cls_dataset_type = 'CTSliceClsDataset'
cls_data_root = 'data/phantom/'
cls_img_scale = (512, 512)  # (width, height) every slice is resized to
cls_backend_args = None

# The paper reads the slice as RGB, resizes it to 512x512 and normalises it with the
# ImageNet statistics (the model's data preprocessor). BodyCrop acts only on files
# converted with --crop-body.
cls_pipeline = [
    dict(type='LoadCTSlice', backend_args=cls_backend_args),
    dict(type='BodyCrop'),
    dict(type='Resize', scale=cls_img_scale, keep_ratio=False),
    dict(
        type='PackSSMInputs',
        meta_keys=('img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

cls_train_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    # a DefaultSampler that a resumed run can start part-way through an epoch
    sampler=dict(type='ResumableDefaultSampler', shuffle=True),
    dataset=dict(
        type=cls_dataset_type,
        data_root=cls_data_root,
        ann_file='annotations/covidx_train.json',
        data_prefix=dict(img_path='cls/'),
        pipeline=cls_pipeline))
cls_val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=cls_dataset_type,
        data_root=cls_data_root,
        ann_file='annotations/covidx_val.json',
        data_prefix=dict(img_path='cls/'),
        test_mode=True,
        pipeline=cls_pipeline))
cls_test_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=cls_dataset_type,
        data_root=cls_data_root,
        ann_file='annotations/covidx_test.json',
        data_prefix=dict(img_path='cls/'),
        test_mode=True,
        pipeline=cls_pipeline))
