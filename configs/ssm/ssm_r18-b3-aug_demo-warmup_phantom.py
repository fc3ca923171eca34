# Stage 1 of `make demo`: the segmentation warm-up of the phantom recipe
# (ssm_r18-b3-aug_seg-warmup_phantom.py), its backbone, neck, box and mask heads
# computing in bfloat16 on the CPU (model.cpu_bf16='always'; not in the paper, see
# ssm_r18-b3-aug_demo_phantom.py for why and what it changes).
_base_ = './ssm_r18-b3-aug_seg-warmup_phantom.py'

model = dict(cpu_bf16='always')
