_base_ = 'mmdet::_base_/default_runtime.py'

# Copy the segmentation RoI branch into the frozen classification branch
# whenever the segmentation loss reaches a new minimum (reference code).
custom_hooks = [dict(type='ImageBranchSyncHook', policy='on_best_seg_loss')]

# Each iteration runs a segmentation step and a classification step, and each
# leaves some parameters without gradients (S, resp. RPN/RoI).
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
