from .body_crop import BodyCrop
from .load_ct_slice import LoadCTSlice
from .pack_ssm_inputs import PackSSMInputs

__all__ = ['BodyCrop', 'LoadCTSlice', 'PackSSMInputs']
