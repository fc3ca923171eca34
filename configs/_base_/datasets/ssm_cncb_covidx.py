# The SSM's two datasets in the runner's slots. The classification set drives
# the epochs (paper: an epoch is one pass over it); each iteration also draws a
# segmentation batch from an endless, seeded stream over the lesion set.
# Validation: the classification val split. Test: the lesion test set (COCO
# bbox/segm AP, slices without lesions included) and the classification test
# split, in one run. Metric keys carry the prefixes seg/ and cls/; patient/ holds
# the classification test split scored per patient with the scan-level rule of
# tools/analyze_scan.py (PatientClsMetric).
_base_ = ['./cncb_lesion.py', './covidx_ct.py']

train_dataloader = {{_base_.cls_train_dataloader}}
val_dataloader = {{_base_.cls_val_dataloader}}
test_dataloader = {{_base_.cls_test_dataloader}}
val_evaluator = dict(type='ClsSensitivityF1')
test_evaluator = [dict(type='ClsSensitivityF1'), dict(type='PatientClsMetric')]

train_cfg = dict(
    type='InterleavedTrainLoop',
    max_epochs=50,
    val_interval=1,
    seg_dataloader=dict(
        batch_size=1,
        num_workers=0,
        sampler=dict(type='ResumableInfiniteSampler', shuffle=True),
        dataset={{_base_.seg_train_dataloader.dataset}}))
val_cfg = dict(type='DualTaskValLoop')
test_cfg = dict(
    type='DualTaskTestLoop',
    seg_dataloader={{_base_.seg_test_dataloader}},
    seg_evaluator={{_base_.seg_test_evaluator}})
