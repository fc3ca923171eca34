from .mask_threshold import binary_masks
from .roc_auc import roc_auc
from .threshold_dice import (THRESHOLDS, ground_truth, instance_map, stored_map, summarise,
                             threshold_curves)

__all__ = ['binary_masks', 'roc_auc', 'THRESHOLDS', 'ground_truth', 'instance_map',
           'stored_map', 'summarise', 'threshold_curves']
