from .body_crop import BodyCrop
from .ct_inferencer_loader import CTInferencerLoader
from .load_ct_slice import LoadCTSlice
from .pack_ssm_inputs import PackSSMInputs

__all__ = ['BodyCrop', 'CTInferencerLoader', 'LoadCTSlice', 'PackSSMInputs']
