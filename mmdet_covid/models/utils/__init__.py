from .paste_masks import paste_masks

__all__ = ['paste_masks']
