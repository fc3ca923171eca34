import pytest
import torch

from mmdet_covid.models.utils import RoIBatchReplay
from tests.conftest import adam, cls_batch, model_cfg, seg_batch


def rows(*values):
    """One (1, 2, 5) RoI batch per value, filled with it."""
    return torch.stack([torch.full((2, 5), float(v)) for v in values])


def test_minibatch_is_the_new_sample_then_distinct_older_ones():
    torch.manual_seed(0)
    replay = RoIBatchReplay(size=4, batch=3)
    replay.push(rows(0), torch.tensor([0]))
    x, y = replay.minibatch(rows(0), torch.tensor([0]))
    assert x.shape == (1, 2, 5) and y.tolist() == [0]  # nothing older yet
    for v in range(1, 6):  # memory wraps: it holds 2, 3, 4, 5 at the end
        replay.push(rows(v), torch.tensor([v]))
    assert len(replay) == 4 and replay.count == 6
    x, y = replay.minibatch(rows(5), torch.tensor([5]))
    assert x.shape == (3, 2, 5) and y[0] == 5
    older = y[1:].tolist()
    assert len(set(older)) == 2 and set(older) <= {2, 3, 4}  # never the new one twice
    assert torch.equal(x[:, 0, 0].long(), y)  # rows travel with their labels


def test_new_batch_larger_than_the_minibatch_is_used_alone():
    replay = RoIBatchReplay(size=8, batch=2)
    replay.push(rows(1, 2, 3), torch.tensor([1, 2, 0]))
    x, y = replay.minibatch(rows(1, 2, 3), torch.tensor([1, 2, 0]))
    assert y.tolist() == [1, 2, 0]


def test_memory_is_not_in_the_state_dict():
    replay = RoIBatchReplay(size=4, batch=2)
    replay.push(rows(1), torch.tensor([1]))
    assert replay.state_dict() == {}


@pytest.mark.parametrize('size, batch', [(4, 5), (0, 0), (4.0, 2)])
def test_bad_sizes(size, batch):
    with pytest.raises(ValueError, match='1 <= batch <= size'):
        RoIBatchReplay(size, batch)


def test_detector_trains_s_on_the_replayed_minibatch():
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(model_cfg(update_rule='s_only', cls_replay=dict(size=8, batch=4)))
    model.init_weights()
    model.train()
    seen = []
    model.classifier.register_forward_hook(lambda m, a, out: seen.append(a[0].shape[0]))
    for label in [0, 1, 2]:
        data = model.data_preprocessor(cls_batch([label]), True)
        losses = model(**data, mode='loss')
        assert torch.isfinite(losses['slice_loss'])
    assert seen == [1, 2, 3] and len(model.cls_replay) == 3
    with pytest.raises(ValueError, match="cls_replay needs update_rule='s_only'"):
        MODELS.build(model_cfg(update_rule='s_and_backbone', cls_replay=dict(size=8, batch=4)))


def test_the_memory_keeps_its_shape_for_an_ema_copy_of_the_model():
    """mmengine's EMAHook copies the model before training and then copies its buffers
    at every step: a memory allocated at the first push had another shape (it crashed)."""
    from mmdet.registry import MODELS
    from mmengine.model import ExponentialMovingAverage
    torch.manual_seed(0)
    model = MODELS.build(model_cfg(update_rule='s_only', cls_replay=dict(size=8, batch=4)))
    model.init_weights()
    assert model.cls_replay.memory.shape == (8, 128, 5)
    ema = ExponentialMovingAverage(model, momentum=0.5)
    model.train()
    data = model.data_preprocessor(cls_batch([1]), True)
    model(**data, mode='loss')
    ema.update_parameters(model)
    torch.testing.assert_close(ema.module.cls_replay.memory, model.cls_replay.memory)
    replay = RoIBatchReplay(size=4, batch=2, row_shape=(3, 5))
    with pytest.raises(ValueError, match=r'RoI batches of shape \(2, 5\), the memory holds'):
        replay.push(torch.zeros(1, 2, 5), torch.zeros(1, dtype=torch.long))


def test_extra_updates_of_s_on_remembered_batches():
    """steps=3: a classification step updates S three times (the last two on remembered
    RoI batches alone); a segmentation step is the stock one."""
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(model_cfg(update_rule='s_only',
                                   cls_replay=dict(size=8, batch=4, steps=3)))
    model.init_weights()
    model.train()
    wrapper = adam(model, weight_decay=0)
    seen = []
    model.classifier.register_forward_hook(lambda m, a, out: seen.append(a[0].shape[0]))
    backbone = model.backbone.conv1.weight.detach().clone()
    for label in [0, 1, 2]:
        log_vars = model.train_step(cls_batch([label]), wrapper)
        assert torch.isfinite(log_vars['slice_loss'])
    # the new slice (+ remembered ones), then two draws of remembered ones alone
    assert seen == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert wrapper.optimizer.state[model.classifier.mlp[0].weight]['step'] == 9
    assert torch.equal(model.backbone.conv1.weight, backbone)  # S only
    model.train_step(seg_batch(1), wrapper)
    assert len(seen) == 9  # no update of S in a segmentation step
    with pytest.raises(ValueError, match='steps must be an integer >= 1'):
        RoIBatchReplay(size=4, batch=2, steps=0)
