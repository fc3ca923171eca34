"""bfloat16 arithmetic for the heavy layers on a CPU, float32 everywhere else."""
from typing import Any, Callable

import torch
from mmengine.logging import print_log
from torch import Tensor

# When a module's convolutions and matrix products run in bfloat16 (see
# :func:`bf16_call`): never, at inference only (eval mode), or also in training.
CPU_BF16_MODES = ('off', 'inference', 'always')


def check_cpu_bf16(mode: str, owner: str) -> str:
    """``mode`` if valid and this CPU computes bfloat16 natively, else an error
    (invalid) or ``'off'`` with a warning (no native bfloat16: oneDNN would
    emulate it, slower than float32)."""
    if mode not in CPU_BF16_MODES:
        raise ValueError(f'{owner}: cpu_bf16 must be one of {CPU_BF16_MODES}, got {mode!r}')
    if mode != 'off' and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        print_log(f'{owner}: cpu_bf16={mode!r} but this CPU has no native bfloat16 '
                  f'arithmetic (AVX-512 BF16 or AMX); computing in float32', 'current',
                  level=30)
        return 'off'
    return mode


def bf16_active(mode: str, training: bool, x: Tensor) -> bool:
    """Whether a module in ``mode`` computes ``x`` in bfloat16 now."""
    return (mode == 'always' or (mode == 'inference' and not training)) and \
        x.device.type == 'cpu'


def _float32(out: Any) -> Any:
    if isinstance(out, Tensor):
        return out.float() if out.dtype == torch.bfloat16 else out
    if isinstance(out, (tuple, list)):
        return type(out)(_float32(o) for o in out)
    if isinstance(out, dict):
        return {k: _float32(v) for k, v in out.items()}
    return out


def bf16_call(fn: Callable, *args, enabled: bool = True) -> Any:
    """``fn(*args)`` under CPU bfloat16 autocast; its bfloat16 outputs come
    back as float32 (memory layout kept), so what follows (RoIAlign, box
    decoding, mmcv's NMS, losses) runs in float32 as without it.

    Under autocast, convolutions and matrix products take bfloat16 copies of
    their inputs and weights (8 significant bits) and accumulate in float32;
    the parameters stay float32 and gradients flow back through the casts.
    """
    if not enabled:
        return fn(*args)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = fn(*args)
    return _float32(out)
