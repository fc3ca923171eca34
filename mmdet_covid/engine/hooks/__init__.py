from .image_branch_sync_hook import ImageBranchSyncHook
from .progress_bar_hook import ProgressBarHook
from .ssm_visualization_hook import SSMVisualizationHook
from .strict_json_logger_hook import StrictJsonLoggerHook
from .training_data_hook import TrainingDataHook

__all__ = ['ImageBranchSyncHook', 'ProgressBarHook', 'SSMVisualizationHook',
           'StrictJsonLoggerHook', 'TrainingDataHook']
