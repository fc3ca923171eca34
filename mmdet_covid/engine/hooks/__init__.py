from .image_branch_sync_hook import ImageBranchSyncHook

__all__ = ['ImageBranchSyncHook']
