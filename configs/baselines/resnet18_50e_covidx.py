# Baseline: a plain ResNet18 image classifier on the classification data,
# from scratch, with the SSM's optimiser and schedule (paper, Table III).
_base_ = [
    '../_base_/models/slice_classifier_r18.py',
    '../_base_/datasets/covidx_ct.py',
    '../_base_/schedules/ssm_adam_50e.py',
    'mmdet::_base_/default_runtime.py',
]
runner_type = 'mmdet.SSMRunner'  # applies cls_data_root / cls_img_scale (see the SSM configs)
train_dataloader = {{_base_.cls_train_dataloader}}
val_dataloader = {{_base_.cls_val_dataloader}}
test_dataloader = {{_base_.cls_test_dataloader}}
val_evaluator = dict(type='ClsSensitivityF1')
test_evaluator = dict(type='ClsSensitivityF1')

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50, val_interval=1)
# the dual-task loops without a segmentation part: they also save the
# confusion matrix (JSON + PNG) in the run's log dir
val_cfg = dict(type='DualTaskValLoop')
test_cfg = dict(type='DualTaskTestLoop')
default_hooks = dict(
    # LoggerHook; an undefined metric (NaN) is null in the test-metrics JSON
    logger=dict(type='StrictJsonLoggerHook'),
    checkpoint=dict(interval=1, max_keep_ckpts=3, save_best='cls/f1_weighted', rule='greater'))
# the same for the validation scalars; draws the slice class
# No fixed name (mmdet's default_runtime.py has 'visualizer'): each runner gets its
# own, named after its run, so that runners built one after another in one process
# (make demo: warm-up, joint phase, test) write to their own log folders.
visualizer = dict(_delete_=True, type='SSMVisualizer',
                  vis_backends=[dict(type='LocalVisBackend')])
