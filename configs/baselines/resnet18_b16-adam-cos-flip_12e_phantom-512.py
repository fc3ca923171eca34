# The phantom's learnability check (tools/analysis_tools/phantom_learnability.py):
# resnet18_b16-adam-cos-flip_12e_phantom.py at the phantom's full 512x512 (the SSM's
# size; at 256x256 the small lesions shrink to a few pixels), its backbone computing
# in bfloat16 on a CPU that has it (model.cpu_bf16='always': autocast, float32
# parameters and loss).
_base_ = './resnet18_b16-adam-cos-flip_12e_phantom.py'

cls_img_scale = (512, 512)  # the runner applies it to every classification pipeline
model = dict(cpu_bf16='always')
