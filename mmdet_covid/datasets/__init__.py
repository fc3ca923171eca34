from .ct_slice_cls_dataset import COVIDX_CLASSES, CTSliceClsDataset
from .lesion_seg_dataset import LesionSegDataset
from .samplers import ResumableDefaultSampler, ResumableInfiniteSampler
from .transforms import BodyCrop, LoadCTSlice, PackSSMInputs

__all__ = [
    'COVIDX_CLASSES', 'CTSliceClsDataset', 'LesionSegDataset', 'ResumableDefaultSampler',
    'ResumableInfiniteSampler', 'BodyCrop', 'LoadCTSlice', 'PackSSMInputs'
]
