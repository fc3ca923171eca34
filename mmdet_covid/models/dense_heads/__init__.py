from .batch_rpn_head import BatchRPNHead
from .bf16_rpn_head import BF16RPNHead

__all__ = ['BatchRPNHead', 'BF16RPNHead']
