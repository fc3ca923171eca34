from .batch_paste_mask_head import BatchPasteMaskHead

__all__ = ['BatchPasteMaskHead']
