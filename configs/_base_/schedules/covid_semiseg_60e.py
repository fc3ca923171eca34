# COVID-SemiSeg's 50 labelled slices, 60 passes (3,000 steps at batch 1; the loop is in
# ../datasets/covid_semiseg.py): Adam 5e-4 with weight decay 1e-4, 200 warm-up steps, then
# cosine decay to 1% by the end (docs/real_data.md). Shared by the SSM and the stock
# Mask R-CNN baseline, so that both train the same way.
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='Adam', lr=5e-4, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=200),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=60, eta_min_ratio=0.01,
         convert_to_iter_based=True),
]
