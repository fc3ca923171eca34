from .cls_metric import ClsSensitivityF1

__all__ = ['ClsSensitivityF1']
