from .inference import expand_sources, inference_ct_slices, init_ssm
from .ssm_inferencer import SSMInferencer

__all__ = ['expand_sources', 'inference_ct_slices', 'init_ssm', 'SSMInferencer']
