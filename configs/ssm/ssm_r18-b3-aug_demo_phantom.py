# The schedule of `make demo`: the first epoch of the phantom learning curve
# (ssm_r18-b3-aug_curve_phantom.py, where the recipe and how it differs from
# the paper are described), without the evaluation after each epoch. The
# demo tests the trained model once at the end.
_base_ = './ssm_r18-b3-aug_curve_phantom.py'

train_cfg = dict(max_epochs=1)
val_cfg = None
val_dataloader = None
val_evaluator = None
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
