# The lesion set alone in the runner's slots (epoch-based): the segmentation
# pretraining of the base SSM variants and the Mask R-CNN baseline.
_base_ = ['./cncb_lesion.py']

train_dataloader = {{_base_.seg_train_dataloader}}
val_dataloader = {{_base_.seg_test_dataloader}}
test_dataloader = {{_base_.seg_test_dataloader}}
val_evaluator = {{_base_.seg_test_evaluator}}
test_evaluator = {{_base_.seg_test_evaluator}}

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
