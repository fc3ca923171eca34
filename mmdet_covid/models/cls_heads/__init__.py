from .image_classifier_s import COVIDX_CLASSES, ImageClassifierS

__all__ = ['COVIDX_CLASSES', 'ImageClassifierS']
