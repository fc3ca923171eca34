from .paste_masks import paste_masks
from .roi_batch_replay import RoIBatchReplay

__all__ = ['paste_masks', 'RoIBatchReplay']
