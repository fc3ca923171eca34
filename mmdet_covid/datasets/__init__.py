from .ct_slice_cls_dataset import CTSliceClsDataset
from .lesion_seg_dataset import LesionSegDataset
from .transforms import BodyCrop, LoadCTSlice, PackSSMInputs

__all__ = ['CTSliceClsDataset', 'LesionSegDataset', 'BodyCrop', 'LoadCTSlice', 'PackSSMInputs']
