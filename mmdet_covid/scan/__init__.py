"""Whole-scan analysis: lung mask, lesion burden, the scan-level class, the report."""
from .aggregation import scan_class
from .burden import ZONES, assign_sides, lesion_burden, zone_map
from .lung_mask import LEFT, RIGHT, lung_mask

__all__ = ['scan_class', 'ZONES', 'assign_sides', 'lesion_burden', 'zone_map', 'LEFT',
           'RIGHT', 'lung_mask']
