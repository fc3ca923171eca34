"""The machine a figure was measured on: CPU kinds differ, and their figures with them."""
import torch


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or '' where the system has none."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return ''


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX), the kind that
    the configs' ``cpu_bf16`` speeds up; without it they compute in float32."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
