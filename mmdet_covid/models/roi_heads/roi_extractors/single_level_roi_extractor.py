"""RoI extractor of a single-level feature map (the SSM has one FPN level)."""
from typing import List

from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
from mmdet.registry import MODELS
from mmdet.utils import ConfigType
from torch import nn


@MODELS.register_module()
class SingleLevelRoIExtractor(SingleRoIExtractor):
    """:class:`SingleRoIExtractor` for exactly one feature level, whose RoI
    layer may also come from mmdet's ``MODELS`` registry (e.g. this plugin's
    :class:`SparseRoIAlign`), not only from ``mmcv.ops``.
    """

    def build_roi_layers(self, layer_cfg: ConfigType, featmap_strides: List[int]) -> nn.ModuleList:
        if len(featmap_strides) != 1:
            raise ValueError(f'SingleLevelRoIExtractor takes one feature level, '
                             f'got featmap_strides={list(featmap_strides)}')
        cfg = dict(layer_cfg)
        layer_type = cfg.get('type')
        if isinstance(layer_type, str) and MODELS.get(layer_type) is not None:
            cfg['spatial_scale'] = 1 / featmap_strides[0]
            return nn.ModuleList([MODELS.build(cfg)])
        return super().build_roi_layers(layer_cfg, featmap_strides)
