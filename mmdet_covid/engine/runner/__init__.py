from .dual_task_loops import DualTaskTestLoop, DualTaskValLoop
from .interleaved_loop import InterleavedTrainLoop
from .ssm_runner import DataRootError, SSMRunner, apply_dataset_settings

__all__ = ['DataRootError', 'DualTaskTestLoop', 'DualTaskValLoop', 'InterleavedTrainLoop',
           'SSMRunner', 'apply_dataset_settings']
