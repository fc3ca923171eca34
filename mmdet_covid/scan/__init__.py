"""Whole-scan analysis: lung mask, lesion burden, the scan-level class, the report."""
from .aggregation import scan_class
from .burden import (CONSOLIDATION_LABEL, GGO_LABEL, LABEL_NAMES, ZONES, assign_sides,
                     lesion_burden, lesion_labels, zone_map)
from .lung_mask import LEFT, RIGHT, lung_mask

__all__ = ['scan_class', 'CONSOLIDATION_LABEL', 'GGO_LABEL', 'LABEL_NAMES', 'ZONES',
           'assign_sides', 'lesion_burden', 'lesion_labels', 'zone_map', 'LEFT', 'RIGHT',
           'lung_mask']
