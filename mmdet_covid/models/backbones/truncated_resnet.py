"""ResNet18/34 truncated after its second or third block (paper section IV)."""
from mmdet.models.backbones import ResNet
from mmdet.registry import MODELS


@MODELS.register_module()
class TruncatedResNet(ResNet):
    """A ResNet18 or ResNet34 that keeps only its first ``num_blocks`` blocks.

    The paper calls a ResNet stage (``layer1`` ... ``layer4``) a *block*:
    ``*`` models keep blocks 1-2 (output stride 8, 128 channels) and ``**``
    models keep blocks 1-3 (output stride 16, 256 channels). Only the last
    kept block is returned, for a single FPN level. Every model in the paper
    is trained from scratch with trainable BatchNorm, so there are no
    pretrained weights and BatchNorm is never frozen.

    Args:
        depth (int): 18 or 34.
        num_blocks (int): How many ResNet blocks to keep, 2 or 3.
        **kwargs: Other :class:`mmdet.models.backbones.ResNet` arguments
            (e.g. ``norm_cfg``), except those this class fixes.
    """

    fixed_args = ('num_stages', 'strides', 'dilations', 'out_indices', 'pretrained')

    def __init__(self, depth: int = 18, num_blocks: int = 3, **kwargs) -> None:
        if depth not in (18, 34):
            raise ValueError(
                f'TruncatedResNet: depth must be 18 or 34 (the paper\'s '
                f'backbones), got depth={depth!r}')
        if num_blocks not in (2, 3):
            raise ValueError(
                f'TruncatedResNet: num_blocks must be 2 (blocks 1-2) or 3 '
                f'(blocks 1-3), got num_blocks={num_blocks!r}')
        fixed = sorted(set(kwargs) & set(self.fixed_args))
        if fixed:
            raise ValueError(
                f'TruncatedResNet: {fixed} are derived from num_blocks and '
                f'cannot be set in the config')
        kwargs.setdefault('norm_eval', False)
        kwargs.setdefault('frozen_stages', -1)
        super().__init__(
            depth=depth,
            num_stages=num_blocks,
            strides=(1, 2, 2)[:num_blocks],
            dilations=(1, ) * num_blocks,
            out_indices=(num_blocks - 1, ),
            **kwargs)
        self.num_blocks = num_blocks

    @property
    def out_channels(self) -> int:
        """Channels of the returned feature map (128 or 256)."""
        return self.base_channels * 2**(self.num_blocks - 1)

    @property
    def out_stride(self) -> int:
        """Stride of the returned feature map w.r.t. the input (8 or 16)."""
        return 4 * 2**(self.num_blocks - 1)

