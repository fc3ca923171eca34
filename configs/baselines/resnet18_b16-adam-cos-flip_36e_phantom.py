# The phantom's learnability check, trained three times as long: the 12-epoch run
# (resnet18_b16-adam-cos-flip_12e_phantom.py) ends with its train loss still falling
# (0.24) and its val F1 swinging until the learning rate decays. Same recipe otherwise,
# plus a one-epoch linear warm-up of the learning rate. Run: python tools/train.py
# <this config>, then python tools/test.py <this config> work_dirs/<this config>/best_*.pth.
_base_ = './resnet18_b16-adam-cos-flip_12e_phantom.py'

max_epochs = 36
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=max_epochs,
         T_max=max_epochs - 1, eta_min=0, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
