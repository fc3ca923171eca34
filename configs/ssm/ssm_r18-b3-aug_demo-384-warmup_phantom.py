# Stage 1 of `make demo` on a CPU without native bfloat16 arithmetic (tools/demo.py
# chooses it there, or with --recipe fp32): the segmentation warm-up of the phantom
# recipe (ssm_r18-b3-aug_seg-warmup_phantom.py) in float32, on slices resized to
# 384x384, for 2 epochs instead of 4, so that the demo fits its 15 minutes where
# bfloat16 would fall back to float32 anyway (docs/phantom_results.md has what it
# reaches, docs/benchmarks.md the times per CPU kind).
_base_ = './ssm_r18-b3-aug_seg-warmup_phantom.py'

seg_img_scale = (384, 384)
cls_img_scale = (384, 384)
train_cfg = dict(max_epochs=2, val_interval=2)
default_hooks = dict(checkpoint=dict(interval=2))
