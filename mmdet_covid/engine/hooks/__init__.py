from .image_branch_sync_hook import ImageBranchSyncHook
from .progress_bar_hook import ProgressBarHook
from .ssm_visualization_hook import SSMVisualizationHook

__all__ = ['ImageBranchSyncHook', 'ProgressBarHook', 'SSMVisualizationHook']
