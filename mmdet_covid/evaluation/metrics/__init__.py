from .cls_metric import ClsSensitivityF1, weighted_f1
from .lesion_coco_metric import LesionCocoMetric
from .lesion_dice_metric import LesionDiceMetric
from .patient_cls_metric import PatientClsMetric, patient_key

__all__ = ['ClsSensitivityF1', 'LesionCocoMetric', 'LesionDiceMetric', 'PatientClsMetric',
           'patient_key', 'weighted_f1']
