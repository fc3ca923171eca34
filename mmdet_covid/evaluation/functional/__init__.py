from .roc_auc import roc_auc

__all__ = ['roc_auc']
