# Stage 2 of `make demo` on a CPU without native bfloat16 arithmetic: the demo's joint
# phase (ssm_r18-b3-aug_demo_phantom.py) in float32 on 384x384 slices, from the
# 384x384 warm-up (ssm_r18-b3-aug_demo-384-warmup_phantom.py), 500 iterations. What it
# reaches, how long it takes, and the shorter variant that missed the F1 target:
# docs/phantom_results.md.
_base_ = './ssm_r18-b3-aug_demo_phantom.py'

model = dict(cpu_bf16='off')
seg_img_scale = (384, 384)
cls_img_scale = (384, 384)
train_cfg = dict(max_iters=500)
