# The demo schedule of `make demo`: the released architecture (ResNet18 blocks
# 1-3, augmented RoI layer) trained from scratch on the synthetic phantom in a
# few minutes on a 2-core CPU. Only the schedule differs from the paper's
# config: a larger learning rate, one pass over the classification split, and
# the image branch refreshed every 20 iterations (with so few iterations a
# new minimum of the noisy batch-1 segmentation loss is rare).
_base_ = './ssm_r18-b3-aug_50e_cncb-covidx.py'

train_cfg = dict(max_epochs=1, val_interval=1)
optim_wrapper = dict(optimizer=dict(lr=5e-4))
custom_hooks = [
    dict(type='ImageBranchSyncHook', policy='every_n_iters', interval=20),
    dict(type='SyncBuffersHook'),
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=1, save_best=None))
val_cfg = None
val_dataloader = None
val_evaluator = None
