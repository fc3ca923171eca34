from .cls_metric import ClsSensitivityF1
from .lesion_coco_metric import LesionCocoMetric

__all__ = ['ClsSensitivityF1', 'LesionCocoMetric']
