# The phantom's learnability check: can a plain ResNet18, trained from scratch
# with a standard recipe, tell the phantom's classes apart on patients it has never
# seen? (It must, before the SSM can be asked to.) Recipe, and how it differs
# from the paper's baseline (resnet18_50e_covidx.py): batch 16 instead of 1,
# Adam lr 1e-3 with a cosine decay instead of a constant 1e-5, 256x256
# slices, random horizontal flips, 12 epochs, a fixed seed; the checkpoint kept
# is the best on the val split. Run: python tools/train.py <this config>, then
# python tools/test.py <this config> work_dirs/<this config>/best_*.pth.
# The check itself runs at 512x512 (resnet18_b16-adam-cos-flip_12e_phantom-512.py,
# tools/analysis_tools/phantom_learnability.py): weighted F1 0.957 on the phantom's
# test patients (docs/phantom_results.md).
_base_ = './resnet18_50e_covidx.py'

cls_img_scale = (256, 256)
meta_keys = ('img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip', 'flip_direction')
train_pipeline = [
    dict(type='LoadCTSlice'),
    dict(type='BodyCrop'),
    dict(type='Resize', scale=cls_img_scale, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackSSMInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadCTSlice'),
    dict(type='BodyCrop'),
    dict(type='Resize', scale=cls_img_scale, keep_ratio=False),
    dict(type='PackSSMInputs', meta_keys=meta_keys[:4]),
]
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=16, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(batch_size=16, dataset=dict(pipeline=test_pipeline))
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=12, T_max=12,
                        eta_min=0, convert_to_iter_based=True)]
train_cfg = dict(max_epochs=12)
default_hooks = dict(logger=dict(interval=20))
randomness = dict(seed=0)
