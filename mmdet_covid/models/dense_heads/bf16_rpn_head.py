"""The batched RPN head, its convolutions optionally in bfloat16 on a CPU."""
from typing import Tuple

from mmdet.registry import MODELS
from torch import Tensor

from ..utils import bf16_active, bf16_call, check_cpu_bf16
from .batch_rpn_head import BatchRPNHead


@MODELS.register_module()
class BF16RPNHead(BatchRPNHead):
    """:class:`BatchRPNHead` (mmdet's ``RPNHead``, its proposals post-processed
    for the whole batch at once) whose three convolutions (3x3 conv,
    objectness and box-delta 1x1 convs) compute in bfloat16 where
    ``cpu_bf16`` says, as the backbone and the RoI heads of a
    :class:`DualTaskDetector` do (which sets this head's mode to its own).
    Their outputs come back float32: anchor decoding, mmcv's NMS (float32
    scores only on a CPU) and the losses run as in the stock head. The same
    parameters and ``state_dict`` as mmdet's ``RPNHead``.

    Args:
        cpu_bf16 (str): ``'off'``, ``'inference'`` or ``'always'`` (see
            :func:`~mmdet_covid.models.utils.bf16_call`). Defaults to ``'off'``.
        **kwargs: ``RPNHead`` arguments.
    """

    def __init__(self, *args, cpu_bf16: str = 'off', **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cpu_bf16 = check_cpu_bf16(cpu_bf16, type(self).__name__)

    def forward_single(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Objectness logits and box deltas of one level, in bfloat16 arithmetic
        where ``cpu_bf16`` says (float32 out)."""
        return bf16_call(super().forward_single, x,
                         enabled=bf16_active(self.cpu_bf16, self.training, x))
