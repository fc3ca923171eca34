"""RoI extractor of a single-level feature map (the SSM has one FPN level)."""
from typing import List, Optional, Tuple

from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
from mmdet.registry import MODELS
from mmdet.utils import ConfigType
from torch import Tensor, nn


@MODELS.register_module()
class SingleLevelRoIExtractor(SingleRoIExtractor):
    """:class:`SingleRoIExtractor` for exactly one feature level, whose RoI
    layer may also come from mmdet's ``MODELS`` registry (e.g. this plugin's
    :class:`SparseRoIAlign`), not only from ``mmcv.ops``, and whose forward
    returns the layer's output without the stock one's zero-filled output of
    the same size (50 MB written for nothing at 1,000 RoIs of 256 x 7 x 7).
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

    def forward(self, feats: Tuple[Tensor], rois: Tensor,
                roi_scale_factor: Optional[float] = None) -> Tensor:
        """RoI features of the one level: ``(N, C, PH, PW)``.

        As the stock forward at one level, except that ``roi_scale_factor``
        is applied (the stock single-level path ignores it) and nothing is
        allocated beside the RoI layer's output.
        """
        if len(feats) != 1:
            raise ValueError(f'SingleLevelRoIExtractor takes one feature map, got {len(feats)}')
        rois = rois.type_as(feats[0])  # float16 RoIs under AMP, as the stock forward
        if roi_scale_factor is not None:
            rois = self.roi_rescale(rois, roi_scale_factor)
        if rois.size(0) == 0:
            return feats[0].new_zeros(0, self.out_channels, *self.roi_layers[0].output_size)
        return self.roi_layers[0](feats[0], rois)
