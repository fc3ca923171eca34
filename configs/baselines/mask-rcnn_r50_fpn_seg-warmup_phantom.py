# Baseline of the phantom recipe's segmentation stage: stock mmdet Mask R-CNN
# R50-FPN (one class, 512x512, from scratch) trained exactly as the SSM's
# segmentation warm-up (configs/ssm/ssm_r18-b3-aug_seg-warmup_phantom.py): the
# lesion set alone, batch 1, Adam lr 5e-4, 4 passes (876 steps), seed 0, tested
# on the lesion test set at the same score threshold (0.05). It answers whether
# the SSM's 8.27M parameters segment the phantom's lesions as well as stock
# Mask R-CNN's 44M (measured once, not committed: docs/changelog.md).
_base_ = './mask-rcnn_r50_fpn_50e_cncb.py'

randomness = dict(seed=0)
model = dict(test_cfg=dict(rcnn=dict(score_thr=0.05, max_per_img=128)))  # as the SSM
optim_wrapper = dict(optimizer=dict(lr=5e-4))
train_cfg = dict(max_epochs=4, val_interval=4)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=4, max_keep_ckpts=1, save_best=None))
