"""bf16_call: bfloat16 arithmetic inside, float32 out, gradients through."""
import pytest
import torch
from torch import nn

from mmdet_covid.models.utils import bf16_active, bf16_call, check_cpu_bf16
from tests.conftest import needs_bf16

def _conv():
    torch.manual_seed(0)
    return nn.Conv2d(8, 4, 3, padding=1).to(memory_format=torch.channels_last)


def test_bf16_call_computes_in_bf16_and_returns_float32_with_gradients():
    conv = _conv()
    x = torch.randn(2, 8, 10, 10).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    inside = []
    conv.register_forward_hook(lambda m, i, o: inside.append(o.dtype))
    out = bf16_call(conv, x)
    assert inside == [torch.bfloat16]
    assert out.dtype == torch.float32
    assert out.is_contiguous(memory_format=torch.channels_last)  # layout kept
    ref = conv(x)
    torch.testing.assert_close(out, ref, atol=0.05, rtol=0.02)  # 8 significant bits
    assert not torch.equal(out, ref)  # really rounded
    out.sum().backward()
    assert x.grad.dtype == conv.weight.grad.dtype == torch.float32
    assert conv.weight.grad.abs().sum() > 0


def test_bf16_call_disabled_is_the_plain_call():
    conv = _conv()
    x = torch.randn(1, 8, 6, 6)
    assert torch.equal(bf16_call(conv, x, enabled=False), conv(x))


def test_bf16_call_casts_nested_outputs_and_leaves_the_rest():
    lin = nn.Linear(4, 3)
    out = bf16_call(lambda t: dict(a=(lin(t), lin(t).long()), b=[lin(t)], c='kept'),
                    torch.randn(2, 4))
    assert out['a'][0].dtype == out['b'][0].dtype == torch.float32
    assert out['a'][1].dtype == torch.int64 and out['c'] == 'kept'
    assert isinstance(out['a'], tuple) and isinstance(out['b'], list)


@pytest.mark.parametrize('mode,training,device,expected', [
    ('off', False, 'cpu', False), ('inference', False, 'cpu', True),
    ('inference', True, 'cpu', False), ('always', True, 'cpu', True),
    ('always', False, 'meta', False)])
def test_bf16_active(mode, training, device, expected):
    assert bf16_active(mode, training, torch.empty(1, device=device)) is expected


def test_check_cpu_bf16_names_the_owner_and_the_modes():
    with pytest.raises(ValueError, match=r"Owner: cpu_bf16 must be one of .*'half'"):
        check_cpu_bf16('half', 'Owner')
    assert check_cpu_bf16('off', 'Owner') == 'off'


@needs_bf16
def test_check_cpu_bf16_keeps_the_mode_where_the_cpu_has_bf16():
    assert check_cpu_bf16('always', 'Owner') == 'always'
