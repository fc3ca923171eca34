# Stage 2 of `make demo`: the first iterations of the joint phase of the
# phantom recipe (ssm_r18-b3-aug_curve_phantom.py, where the recipe and how it
# differs from the paper are described), from the segmentation warm-up
# (ssm_r18-b3-aug_demo-warmup_phantom.py), without the evaluation after each
# epoch: the demo tests the trained model once at the end. `max_iters` is what
# fits the demo's 15 minutes on a 2-core CPU after the warm-up.
# Two differences from that stage, for the demo's budget:
# - S takes 4 updates per classification step, 3 of them on minibatches of
#   remembered RoI batches alone (cls_replay steps=4; no extra forward pass of the
#   detector). Measured from the same float32 warm-up over training seeds 0/1/2,
#   weighted F1 after 250 iterations: 0.886 / 0.916 / 0.874 with 1 update, 0.906 /
#   0.930 / 0.902 with 4 (docs/changelog.md).
# - The backbone, neck, box and mask heads compute in bfloat16 on the CPU, in both
#   stages and at test (cpu_bf16='always': autocast inside those modules, float32
#   parameters, losses and everything else), which buys 800 joint iterations in the
#   budget where the CPU computes bfloat16 natively (times per CPU kind in
#   docs/benchmarks.md; elsewhere the demo runs ssm_r18-b3-aug_demo-384_phantom.py).
#   Weighted F1 on the phantom (generator version 3) over training seeds 0/1/2 from
#   the same bfloat16 warm-up: 0.957 / 0.963 / 0.953 after 800 iterations, 0.903 /
#   0.946 / 0.926 after 400 (docs/changelog.md).
_base_ = './ssm_r18-b3-aug_curve_phantom.py'

model = dict(cls_replay=dict(steps=4), cpu_bf16='always')
train_cfg = dict(max_epochs=1, max_iters=800)
val_cfg = None
val_dataloader = None
val_evaluator = None
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
