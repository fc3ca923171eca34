from .inference import expand_sources, inference_ct_slices, init_ssm
from .scan_analysis import ScanAnalysis, analyze_scan, read_scan
from .ssm_inferencer import SSMInferencer

__all__ = ['analyze_scan', 'expand_sources', 'inference_ct_slices', 'init_ssm', 'read_scan',
           'ScanAnalysis', 'SSMInferencer']
