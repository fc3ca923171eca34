"""MMDistributedDataParallel that also wraps CPU models (gloo training)."""
from mmengine.model import MMDistributedDataParallel
from mmdet.registry import MODEL_WRAPPERS
from torch import nn


@MODEL_WRAPPERS.register_module()
class AnyDeviceDistributedDataParallel(MMDistributedDataParallel):
    """:class:`MMDistributedDataParallel` for GPU *and* CPU models.

    The runner always passes ``device_ids=[LOCAL_RANK]``, which torch's DDP
    refuses for a model on the CPU; for such a model they are dropped, so the
    same config trains on GPUs (nccl) and on CPUs (gloo).
    """

    def __init__(self, module: nn.Module, detect_anomalous_params: bool = False,
                 **kwargs) -> None:
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        if on_cpu:
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        super().__init__(module=module, detect_anomalous_params=detect_anomalous_params,
                         **kwargs)
