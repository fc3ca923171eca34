import pytest
import torch

from mmdet_covid.models import TruncatedResNet


@pytest.mark.parametrize('depth,num_blocks,channels,stride', [
    (18, 2, 128, 8), (18, 3, 256, 16), (34, 2, 128, 8), (34, 3, 256, 16)])
def test_output_of_last_kept_block(depth, num_blocks, channels, stride):
    model = TruncatedResNet(depth=depth, num_blocks=num_blocks)
    model.init_weights()
    outs = model(torch.rand(2, 3, 64, 96))
    assert len(outs) == 1
    assert outs[0].shape == (2, channels, 64 // stride, 96 // stride)
    assert (model.out_channels, model.out_stride) == (channels, stride)
    assert not hasattr(model, 'layer4')
    assert (num_blocks == 3) == hasattr(model, 'layer3')


def test_trained_from_scratch_with_trainable_batchnorm():
    model = TruncatedResNet(depth=18, num_blocks=3)
    assert model.init_cfg is None or 'Pretrained' not in str(model.init_cfg)
    model.train()
    assert all(p.requires_grad for p in model.parameters())
    assert model.norm1.training  # norm_eval is off: BN statistics are learned


@pytest.mark.parametrize('kwargs,match', [
    (dict(depth=50), 'depth must be 18 or 34'),
    (dict(depth=18, num_blocks=4), 'num_blocks must be 2'),
    (dict(depth=18, out_indices=(0, 1)), 'derived from num_blocks'),
])
def test_bad_config_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TruncatedResNet(**kwargs)
