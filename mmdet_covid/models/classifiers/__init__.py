from .slice_classifier import SliceClassifier

__all__ = ['SliceClassifier']
