import copy

import pytest
import torch
from mmdet.registry import MODELS

from tests.conftest import SEG_KEYS, adam, changed, cls_batch, model_cfg, seg_batch


def build(**overrides):
    model = MODELS.build(model_cfg(**overrides))
    model.init_weights()
    return model


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return build()


def test_seg_loss_keys_finite_and_no_grad_to_s_or_image_branch(model):
    model.train()
    model.zero_grad()
    data = model.data_preprocessor(seg_batch(2), True)
    losses = model(**data, mode='loss')
    assert set(losses) == SEG_KEYS
    total, log_vars = model.parse_losses(losses)
    assert all(torch.isfinite(torch.tensor(v)) for v in log_vars.values())
    total.backward()
    assert all(p.grad is None for p in model.classifier.parameters())
    assert all(p.grad is None for p in model.roi_head.image_bbox_head.parameters())
    assert model.roi_head.bbox_head.fc_cls.weight.grad is not None


def test_slice_loss_keys_and_finite(model):
    model.train()
    data = model.data_preprocessor(cls_batch([0, 1, 2]), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'slice_loss', 'slice_acc'}
    assert torch.isfinite(losses['slice_loss']) and losses['slice_loss'] > 0


@pytest.mark.parametrize('rule', ['s_only', 's_and_backbone', 's_and_backbone_bn'])
def test_cls_step_updates_only_what_the_rule_allows(rule):
    model = build(update_rule=rule)
    model.train()
    wrapper = adam(model)
    before = copy.deepcopy(model.state_dict())
    model.train_step(cls_batch([0, 2]), wrapper)

    assert changed(before, model, 'classifier.')
    for frozen in ('rpn_head.', 'roi_head.bbox_head.', 'roi_head.mask_head.',
                   'roi_head.image_bbox_head.'):
        assert not changed(before, model, frozen), frozen
    conv = 'backbone.layer1.0.conv1.weight'
    bn = 'backbone.layer1.0.bn1.weight'
    after = model.state_dict()
    assert torch.equal(before[conv], after[conv]) == (rule != 's_and_backbone')
    assert torch.equal(before[bn], after[bn]) == (rule == 's_only')
    assert changed(before, model, 'neck.') == (rule == 's_and_backbone')
    # The reference's model.eval(): classification images never reach the
    # BatchNorm running statistics, whatever the rule.
    buffers = [k for k, _ in model.named_buffers() if k.startswith('backbone.')]
    assert buffers and all(torch.equal(before[k], after[k]) for k in buffers)
    assert all(m.training for m in model.modules()), 'train mode is restored'


@pytest.mark.parametrize('rule', ['s_only', 's_and_backbone', 's_and_backbone_bn'])
def test_cls_step_norm_eval_switch(rule):
    """With ``cls_step_norm_eval=False`` the rules that train the backbone
    normalise with batch statistics and update the running ones."""
    model = build(update_rule=rule, cls_step_norm_eval=False)
    model.train()
    before = copy.deepcopy(model.state_dict())
    model.train_step(cls_batch([0, 2]), adam(model))
    key = 'backbone.layer1.0.bn1.running_mean'
    assert torch.equal(before[key], model.state_dict()[key]) == (rule == 's_only')


def test_cls_step_features_match_inference_features():
    """In the classification step S reads exactly what it reads at test time."""
    model = build()
    data = model.data_preprocessor(cls_batch([0, 2]), True)
    model.train()
    captured = {}

    def capture(module, args, output):
        captured[module.training] = args[0].detach()

    model.classifier.register_forward_hook(capture)
    model(**data, mode='loss')
    model.eval()
    with torch.no_grad():
        model.predict(data['inputs'], data['data_samples'])
    torch.testing.assert_close(captured[True], captured[False])


def test_seg_step_trains_all_but_s_and_image_branch(model):
    model.train()
    wrapper = adam(model)
    before = copy.deepcopy(model.state_dict())
    log_vars = model.train_step(seg_batch(2), wrapper)
    assert SEG_KEYS <= set(log_vars)
    for trained in ('backbone.', 'neck.', 'rpn_head.', 'roi_head.bbox_head.', 'roi_head.mask_head.'):
        assert changed(before, model, trained), trained
    assert not changed(before, model, 'classifier.')
    assert not changed(before, model, 'roi_head.image_bbox_head.')


def test_weight_copy_makes_branches_equal():
    model = build()
    head = model.roi_head
    seg, img = head.bbox_head.state_dict(), head.image_bbox_head.state_dict()
    assert all(torch.equal(seg[k], img[k]) for k in seg), 'init_weights copies'
    model.train()
    model.train_step(seg_batch(1), adam(model))
    seg = head.bbox_head.state_dict()
    assert not all(torch.equal(seg[k], img[k]) for k in seg)
    head.copy_seg_weights()
    img = head.image_bbox_head.state_dict()
    assert all(torch.equal(seg[k], img[k]) for k in seg)
    assert not any(p.requires_grad for p in head.image_bbox_head.parameters())


def test_image_branch_never_enters_the_optimiser(model):
    wrapper = adam(model)
    in_optim = {id(p) for g in wrapper.optimizer.param_groups for p in g['params']}
    frozen = {id(p) for p in model.roi_head.image_bbox_head.parameters()}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert in_optim == trainable and not (in_optim & frozen)


def test_predict_one_pass_on_a_512_slice(model):
    model.eval()
    model.roi_head.test_cfg.score_thr = 0.0  # an untrained model scores ~0.5
    try:
        with torch.no_grad():
            data = model.data_preprocessor(seg_batch(2, size=512), False)
            samples = model(**data, mode='predict')
    finally:
        model.roi_head.test_cfg.score_thr = 0.75
    assert len(samples) == 2
    for sample in samples:
        inst = sample.pred_instances
        assert len(inst) > 0 and len(inst) <= 128
        assert inst.masks.shape == (len(inst), 512, 512) and inst.masks.dtype == torch.bool
        assert inst.bboxes.shape == (len(inst), 4) and torch.all(inst.scores >= 0)
        assert sample.pred_score.shape == (3, )
        assert torch.isclose(sample.pred_score.sum(), torch.tensor(1.0))
        assert sample.pred_label.item() == sample.pred_score.argmax().item()


def test_tensor_mode_returns_roi_outputs_and_logits(model):
    model.eval()
    data = model.data_preprocessor(cls_batch([0, 1]), False)
    with torch.no_grad():
        roi_outs, logits = model(**data, mode='tensor')
    assert logits.shape == (2, 3) and len(roi_outs) == 3


def test_base_variant_shares_the_segmentation_branch():
    model = build(roi_head=dict(augmented=False))
    assert not hasattr(model.roi_head, 'image_bbox_head')
    model.train()
    before = copy.deepcopy(model.state_dict())
    model.train_step(cls_batch([1, 2]), adam(model))
    assert not changed(before, model, 'roi_head.')
    assert changed(before, model, 'classifier.') and changed(before, model, 'backbone.')


def test_bad_configs_and_mixed_batches(model):
    with pytest.raises(ValueError, match="update_rule must be one of"):
        build(update_rule='everything')
    with pytest.raises(ValueError, match='classifier.in_features'):
        build(classifier=dict(in_features=100))
    seg, cls = seg_batch(1), cls_batch([1])
    mixed = dict(inputs=seg['inputs'] + cls['inputs'],
                 data_samples=seg['data_samples'] + cls['data_samples'])
    model.train()
    with pytest.raises(ValueError, match='1 classification samples .* and 1 segmentation'):
        model.data_preprocessor(mixed, True)
    with pytest.raises(ValueError, match='mixes'):  # the model checks too
        model.loss(torch.zeros(2, 3, 128, 128), mixed['data_samples'])
