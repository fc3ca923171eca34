# Stage 2 of `make demo`: the first iterations of the joint phase of the
# phantom recipe (ssm_r18-b3-aug_curve_phantom.py, where the recipe and how it
# differs from the paper are described), from the segmentation warm-up
# (ssm_r18-b3-aug_seg-warmup_phantom.py), without the evaluation after each
# epoch: the demo tests the trained model once at the end. `max_iters` is what
# fits the demo's 15 minutes on a 2-core CPU after the warm-up.
_base_ = './ssm_r18-b3-aug_curve_phantom.py'

train_cfg = dict(max_epochs=1, max_iters=250)
val_cfg = None
val_dataloader = None
val_evaluator = None
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
