from .sparse_roi_align import SparseRoIAlign, roi_align_matrix

__all__ = ['SparseRoIAlign', 'roi_align_matrix']
