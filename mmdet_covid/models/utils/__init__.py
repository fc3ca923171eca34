from .cpu_bf16 import CPU_BF16_MODES, bf16_active, bf16_call, check_cpu_bf16
from .paste_masks import paste_masks
from .roi_batch_replay import RoIBatchReplay

__all__ = ['paste_masks', 'RoIBatchReplay', 'CPU_BF16_MODES', 'bf16_active', 'bf16_call',
           'check_cpu_bf16']
