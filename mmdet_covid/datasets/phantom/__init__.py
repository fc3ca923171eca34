"""The synthetic chest-CT phantom: slices drawn in Hounsfield units with exact lesion
masks (:mod:`.slice_renderer`), written as the raw CNCB-nCoV and COVIDx-CT sets
(:mod:`.phantom_generator`, ``tools/make_phantom_data.py``) or as whole scans
(:mod:`.scan_phantom`, ``tools/make_phantom_scan.py``)."""
from .phantom_generator import GENERATOR_VERSION, HARD_FRAC, generate, phantom_rng
from .scan_phantom import render_scan, write_scan
from .slice_renderer import (FIELD_OF_VIEW_MM, MASK_BACKGROUND, MASK_CONSOLIDATION, MASK_GGO,
                             MASK_LUNG, draw_slice, render_slice, sample_anatomy)

__all__ = ['draw_slice', 'FIELD_OF_VIEW_MM', 'generate', 'GENERATOR_VERSION', 'HARD_FRAC',
           'MASK_BACKGROUND', 'MASK_CONSOLIDATION', 'MASK_GGO', 'MASK_LUNG', 'phantom_rng',
           'render_scan', 'render_slice', 'sample_anatomy', 'write_scan']
