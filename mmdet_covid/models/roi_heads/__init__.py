from .augmented_roi_head import AugmentedRoIHead
from .mask_heads import BatchPasteMaskHead
from .roi_batch_selection import RoIBatchSelection
from .roi_extractors import SingleLevelRoIExtractor

__all__ = ['AugmentedRoIHead', 'BatchPasteMaskHead', 'RoIBatchSelection', 'SingleLevelRoIExtractor']
