from .batch_rpn_head import BatchRPNHead

__all__ = ['BatchRPNHead']
