from .inference import expand_sources, inference_ct_slices

__all__ = ['expand_sources', 'inference_ct_slices']
