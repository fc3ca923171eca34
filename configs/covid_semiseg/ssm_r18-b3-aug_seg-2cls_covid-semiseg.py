# The two-class variant: ground-glass opacity and consolidation as two lesion classes
# (COVID-SemiSeg's label masks), tested binary (every instance against the infection
# masks) and per class (each class against GT-1 / GT-2), as Inf-Net's multi-class table.
_base_ = './ssm_r18-b3-aug_seg_covid-semiseg.py'

semiseg_classes = ('ground_glass', 'consolidation')
model = dict(roi_head=dict(bbox_head=dict(num_classes=2), mask_head=dict(num_classes=2)))
train_dataloader = dict(dataset=dict(ann_file='annotations/multiclass_train.json',
                                     metainfo=dict(classes=semiseg_classes)))
val_dataloader = dict(dataset=dict(ann_file='annotations/multiclass_test.json',
                                   metainfo=dict(classes=semiseg_classes)))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='LesionCocoMetric', prefix='seg', data_root={{_base_.seg_data_root}},
         ann_file='annotations/multiclass_test.json', metric=['bbox', 'segm']),
    dict(type='LesionDiceMetric', data_root={{_base_.seg_data_root}}, gt_dir='gt/binary',
         class_gt_dirs=dict(ground_glass='gt/ground_glass', consolidation='gt/consolidation')),
]
test_evaluator = val_evaluator
