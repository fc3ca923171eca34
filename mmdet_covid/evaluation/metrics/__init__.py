from .cls_metric import ClsSensitivityF1
from .lesion_coco_metric import LesionCocoMetric
from .patient_cls_metric import PatientClsMetric, patient_key

__all__ = ['ClsSensitivityF1', 'LesionCocoMetric', 'PatientClsMetric', 'patient_key']
