from .inference import expand_sources, inference_ct_slices, init_ssm

__all__ = ['expand_sources', 'inference_ct_slices', 'init_ssm']
