# The SSM's segmentation part (the paper's base stage: one lesion class, the released
# ResNet18 blocks 1-3 with the augmented RoI layer) trained on COVID-SemiSeg's 50 labelled
# slices from scratch and tested on its 48 test slices, the split of Inf-Net's table
# (docs/real_data.md).
_base_ = [
    '../_base_/models/ssm_r18-b3.py',
    '../_base_/datasets/covid_semiseg.py',
    '../_base_/schedules/covid_semiseg_60e.py',
    '../_base_/ssm_runtime.py',
]
randomness = dict(seed=0)
# every detection down to 0.05: the Inf-Net protocol thresholds a graded map, here the
# best score of the instances covering each pixel (their 0/1 masks; mask probabilities
# x score, mask_thr_binary=-1, scored lower: docs/real_data.md)
model = dict(test_cfg=dict(rcnn=dict(score_thr=0.05)))
# keeps the frozen classification RoI branch out of the optimiser, as every SSM config
optim_wrapper = dict(constructor='TrainableParamsOptimWrapperConstructor')
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=10, max_keep_ckpts=1, save_best=None))
