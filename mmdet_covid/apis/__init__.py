from .batch_inference import batch_predictions
from .inference import expand_sources, inference_ct_slices, init_ssm
from .scan_analysis import ScanAnalysis, analyze_scan, read_scan
from .ssm_inferencer import SSMInferencer

__all__ = ['analyze_scan', 'batch_predictions', 'expand_sources', 'inference_ct_slices',
           'init_ssm', 'read_scan', 'ScanAnalysis', 'SSMInferencer']
