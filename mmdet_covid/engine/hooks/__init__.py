from .image_branch_sync_hook import ImageBranchSyncHook
from .progress_bar_hook import ProgressBarHook

__all__ = ['ImageBranchSyncHook', 'ProgressBarHook']
