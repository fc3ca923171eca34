# Stage 1 of the phantom recipe: the released architecture (ResNet18 blocks 1-3,
# augmented RoI layer) trained on the lesion set alone, at 512x512, from
# scratch, before the joint phase (ssm_r18-b3-aug_curve_phantom.py with
# load_from this checkpoint). Not in the paper, which trains the augmented
# model jointly from the first iteration: on a CPU budget the segmentation
# branch must score lesions before S can learn from it, and a segmentation
# step alone costs less than half of a joint iteration.
_base_ = [
    '../_base_/models/ssm_r18-b3.py',
    '../_base_/datasets/cncb_lesion_only.py',
    '../_base_/schedules/ssm_adam_50e.py',
    '../_base_/ssm_runtime.py',
]
randomness = dict(seed=0)
model = dict(test_cfg=dict(rcnn=dict(score_thr=0.05)))
optim_wrapper = dict(optimizer=dict(lr=5e-4))
train_cfg = dict(max_epochs=4, val_interval=4)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=4, max_keep_ckpts=1, save_best=None))
