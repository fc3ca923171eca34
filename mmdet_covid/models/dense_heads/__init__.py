from .bf16_rpn_head import BF16RPNHead

__all__ = ['BF16RPNHead']
