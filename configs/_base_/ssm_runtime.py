_base_ = 'mmdet::_base_/default_runtime.py'

# Applies seg_data_root / cls_data_root / seg_img_scale / cls_img_scale (dataset
# base configs) to every dataset when the run starts, so that --cfg-options and
# inheriting configs can change them.
runner_type = 'mmdet.SSMRunner'

default_hooks = dict(
    # LoggerHook; an undefined metric (NaN) is null in the test-metrics JSON
    logger=dict(type='StrictJsonLoggerHook', interval=50),
    checkpoint=dict(
        type='CheckpointHook',
        interval=1,
        max_keep_ckpts=3,
        save_best='cls/f1_weighted',
        rule='greater',
        # written to a temporary file and renamed: never a truncated checkpoint
        backend_args=dict(backend='atomic_local')),
    # `--show-dir`: drawings at <show_dir>/{lesion,cls}/<slice path>, no clashes
    visualization=dict(type='SSMVisualizationHook'),
    # meta['training_data'] in every checkpoint: what each task was trained on (real
    # or synthetic, mm per model pixel), said by every output of the model
    training_data=dict(type='TrainingDataHook'))

custom_hooks = [
    # Copy the segmentation RoI branch into the frozen classification branch
    # whenever the segmentation loss reaches a new minimum (reference code).
    dict(type='ImageBranchSyncHook', policy='on_best_seg_loss'),
    # Distributed: average the BatchNorm statistics of the ranks after each
    # epoch, so that every rank (and the checkpoint) holds the same model.
    dict(type='SyncBuffersHook'),
]

# Each iteration runs a segmentation step and a classification step, and each
# leaves some parameters without gradients (S, resp. RPN/RoI). The wrapper is
# MMDistributedDataParallel that also accepts CPU models (gloo); the runner
# looks it up in mmengine's root registry, hence the scope prefix.
model_wrapper_cfg = dict(
    type='mmdet.AnyDeviceDistributedDataParallel', find_unused_parameters=True)

# gloo works everywhere (CPU and GPU); override with nccl on GPU clusters
env_cfg = dict(dist_cfg=dict(backend='gloo'))

# Lesion instances plus the predicted slice class on every drawn slice.
# No fixed name (mmdet's default_runtime.py has 'visualizer'): each runner gets its
# own, named after its run, so that runners built one after another in one process
# (make demo: warm-up, joint phase, test) write to their own log folders.
visualizer = dict(_delete_=True, type='SSMVisualizer',
                  vis_backends=[dict(type='LocalVisBackend')])
# Accuracies are 0 or 100 for a batch of one: show their running mean.
log_processor = dict(custom_cfg=[
    dict(data_src='seg_acc', method_name='mean', window_size=50),
    dict(data_src='slice_acc', method_name='mean', window_size=50),
])
