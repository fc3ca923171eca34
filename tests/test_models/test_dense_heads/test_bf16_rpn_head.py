"""BF16RPNHead: the stock RPNHead, its convolutions in bfloat16 where asked."""
import pytest
import torch
from mmdet.models.dense_heads import RPNHead
from mmdet.registry import MODELS

from mmdet_covid.models import BF16RPNHead
from tests.conftest import model_cfg, needs_bf16

def _heads(mode):
    """A BF16RPNHead in ``mode`` and a stock RPNHead with the same weights, as
    the SSM base config builds them."""
    cfg = model_cfg().rpn_head
    assert cfg.type == 'BF16RPNHead'
    torch.manual_seed(0)
    head = MODELS.build(dict(cfg, cpu_bf16=mode, train_cfg=None, test_cfg=None))
    stock = MODELS.build(dict(cfg, type='RPNHead', train_cfg=None, test_cfg=None))
    stock.load_state_dict(head.state_dict())  # same keys, strict
    return head, stock


def _conv_dtypes(head):
    seen = []
    head.rpn_conv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    return seen


def test_off_is_the_stock_head():
    head, stock = _heads('off')
    assert isinstance(head, RPNHead)
    x = (torch.randn(1, 256, 8, 8), )
    for a, b in zip(head(x), stock(x)):
        assert torch.equal(a[0], b[0])


@needs_bf16
def test_inference_mode_computes_in_bf16_at_eval_only():
    head, stock = _heads('inference')
    seen = _conv_dtypes(head)
    x = (torch.randn(2, 256, 8, 8), )
    head.eval()
    scores, deltas = head(x)
    ref_scores, ref_deltas = stock(x)
    assert seen == [torch.bfloat16]
    assert scores[0].dtype == deltas[0].dtype == torch.float32
    torch.testing.assert_close(scores[0], ref_scores[0], atol=0.05, rtol=0.02)
    torch.testing.assert_close(deltas[0], ref_deltas[0], atol=0.05, rtol=0.02)
    assert not torch.equal(scores[0], ref_scores[0])  # really rounded
    head.train()
    assert torch.equal(head(x)[0][0], stock(x)[0][0]) and seen[-1] == torch.float32


@needs_bf16
def test_always_mode_trains_in_bf16():
    head, _ = _heads('always')
    seen = _conv_dtypes(head)
    head.train()
    scores, deltas = head((torch.randn(1, 256, 8, 8), ))
    (scores[0].sum() + deltas[0].sum()).backward()
    assert seen == [torch.bfloat16]
    assert head.rpn_conv.weight.grad.dtype == torch.float32
    assert head.rpn_conv.weight.grad.abs().sum() > 0


def test_bad_mode_is_named():
    with pytest.raises(ValueError, match=r"BF16RPNHead: cpu_bf16 must be one of"):
        _heads('half')


@needs_bf16
def test_detector_sets_its_mode_and_leaves_a_stock_head_alone():
    detector = MODELS.build(model_cfg(cpu_bf16='inference'))
    assert isinstance(detector.rpn_head, BF16RPNHead)
    assert detector.rpn_head.cpu_bf16 == 'inference'
    detector.cpu_bf16 = 'off'
    assert detector.rpn_head.cpu_bf16 == 'off'
    stock = MODELS.build(model_cfg(rpn_head=dict(type='RPNHead'), cpu_bf16='always'))
    assert type(stock.rpn_head) is RPNHead and not hasattr(stock.rpn_head, 'cpu_bf16')
