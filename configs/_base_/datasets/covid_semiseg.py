# COVID-SemiSeg, Inf-Net's lesion benchmark (50 training / 48 test slices of real CT, one
# radiologist's masks), in the runner's slots: the lesion set alone. Written by
# `bash tools/prepare_covid_semiseg.sh SRC data/covid_semiseg` (docs/real_data.md).
#
# The slices are 8-bit JPEGs already display-windowed by the dataset's authors: LoadCTSlice
# reads them as they are (no HU window). The test reports COCO AP and the Inf-Net protocol
# (LesionDiceMetric: meanDic, maxDic, sensitivity, specificity) on the 48 test slices,
# the split of the published table.
_base_ = ['./cncb_lesion_only.py']

seg_data_root = 'data/covid_semiseg/'
seg_img_scale = (512, 512)  # the longer side; slices are 153-456 x 158-507 px
# The display window that maps a HU series to the grey levels of these slices: the scan
# analysis, infer.py and SSMInferencer read HU input (DICOM, NIfTI, 16-bit PNG) through it;
# 8-bit slices are used as stored. (It is not a LoadCTSlice argument, so that mmdet's
# inference_detector, which swaps that step for LoadImageFromNDArray, takes the config
# as it is: give it windowed 8-bit slices, as these.) Measured on the 98
# slices (tests/test_configs/test_covid_semiseg_configs.py): aerated lung is grey 44 (the
# slices' darkest mode, median; quartiles 32-58), soft tissue 216 (brightest mode below
# saturation; 208-226); with lung at -850 HU and soft tissue at +40 HU that is a window of
# width 1320 around -420, which puts air (-1000 HU) at 15 (the slices' 1st percentile: 21).
ct_window = dict(window_level=-420.0, window_width=1320.0)

semiseg_train_pipeline = [
    dict(type='LoadCTSlice'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    # 50 slices: every pass sees them at another size, side and angle
    dict(type='RandomResize', scale=seg_img_scale, ratio_range=(0.8, 1.25), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Rotate', prob=0.5, max_mag=15.0, img_border_value=0),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(2, 2), by_mask=True),
    dict(type='PackSSMInputs'),
]
semiseg_test_pipeline = [
    dict(type='LoadCTSlice'),
    dict(type='Resize', scale=seg_img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackSSMInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

train_dataloader = dict(dataset=dict(
    data_root=seg_data_root, ann_file='annotations/binary_train.json', data_prefix=dict(img='images/train/'),
    pipeline=semiseg_train_pipeline))
val_dataloader = dict(dataset=dict(
    data_root=seg_data_root, ann_file='annotations/binary_test.json', data_prefix=dict(img='images/test/'),
    pipeline=semiseg_test_pipeline))
test_dataloader = val_dataloader
# 60 passes over the 50 slices (the schedule, ../schedules/covid_semiseg_60e.py, decays
# over the same 60); the 48 test slices every 10
train_cfg = dict(max_epochs=60, val_interval=10)
val_evaluator = [
    dict(type='LesionCocoMetric', prefix='seg', data_root=seg_data_root,
         ann_file='annotations/binary_test.json', metric=['bbox', 'segm']),
    # the published protocol, on the truth images themselves (gt/binary -> GT)
    dict(type='LesionDiceMetric', data_root=seg_data_root, gt_dir='gt/binary'),
]
test_evaluator = val_evaluator
