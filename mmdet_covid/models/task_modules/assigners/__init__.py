from .sync_free_max_iou_assigner import SyncFreeMaxIoUAssigner

__all__ = ['SyncFreeMaxIoUAssigner']
