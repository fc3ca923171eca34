from .image_classifier_s import ImageClassifierS

__all__ = ['ImageClassifierS']
