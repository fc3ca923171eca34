from .cpu_bf16 import CPU_BF16_MODES, bf16_active, bf16_call, check_cpu_bf16
from .decode_per_image import decode_per_image
from .nms_per_image import nms_per_image
from .paste_masks import paste_masks
from .roi_batch_replay import RoIBatchReplay

__all__ = ['decode_per_image', 'nms_per_image', 'paste_masks', 'RoIBatchReplay',
           'CPU_BF16_MODES', 'bf16_active', 'bf16_call', 'check_cpu_bf16']
