import copy
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS

from mmdet_covid.models import SliceClassifier
from tests.conftest import CONFIG_DIR, adam, cls_batch, model_cfg, needs_bf16

BASELINE = osp.join(CONFIG_DIR, '_base_', 'models', 'slice_classifier_r18.py')
SIZE = 64  # stride 32: a 2 x 2 last feature map, enough to pool


def _build() -> SliceClassifier:
    model = MODELS.build(model_cfg(BASELINE))
    model.init_weights()
    return model


def _batch(labels=(0, 1, 2, 2), seed: int = 1) -> dict:
    """Tiny classification batch; the class is the number of bright squares."""
    return cls_batch(labels=list(labels), size=SIZE, seed=seed)


@pytest.fixture(autouse=True)
def one_thread():
    """Run these tests on one intra-op thread, then restore the setting.

    Why: on a small machine shared with other jobs, two OpenMP threads that
    spin-wait for a busy core made a training step 40x slower (3.6 s instead
    of 0.1 s); one thread costs at most 2x when the machine is idle.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_build_resnet18_from_config():
    model = _build()
    assert isinstance(model, SliceClassifier)
    assert model.classes == ('Normal', 'CP', 'COVID-19')
    assert model.fc.in_features == 512 and model.fc.out_features == 3
    # torchvision ResNet18 without its ImageNet fc (11,689,512 - 513,000) + our 512 x 3 + 3
    assert sum(p.numel() for p in model.parameters()) == 11176512 + 1539
    assert model.backbone.norm_eval is False  # from scratch: BN statistics must update


def test_loss_keys_and_value():
    model = _build().train()
    data = model.data_preprocessor(_batch(), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'slice_loss', 'slice_acc'}
    assert torch.isfinite(losses['slice_loss']) and losses['slice_loss'].requires_grad
    # near-zero logits at init (fc std 0.01): cross-entropy close to log(3)
    assert abs(losses['slice_loss'].item() - torch.log(torch.tensor(3.)).item()) < 0.2
    assert 0 <= losses['slice_acc'].item() <= 100 and not losses['slice_acc'].requires_grad


def test_train_step_updates_weights():
    model = _build().train()
    before = copy.deepcopy(model.state_dict())
    log_vars = model.train_step(_batch(), adam(model, 1e-3, weight_decay=0))
    assert set(log_vars) == {'loss', 'slice_loss', 'slice_acc'}
    after = model.state_dict()
    # (mmdet's ResNet zero-inits the last BN of each residual branch, so the
    # convolutions behind it get no gradient on the first step: check its gamma)
    for name in ('backbone.conv1.weight', 'backbone.layer4.0.downsample.0.weight',
                 'backbone.layer4.1.bn2.weight', 'fc.weight'):
        assert not torch.equal(before[name], after[name]), name
    # BN running statistics move (norm_eval=False)
    assert not torch.equal(before['backbone.bn1.running_mean'],
                           after['backbone.bn1.running_mean'])


def test_predict_contract():
    model = _build().eval()
    samples = model.test_step(_batch())
    assert len(samples) == 4
    logits = model(model.data_preprocessor(_batch(), False)['inputs'], mode='tensor')
    assert logits.shape == (4, 3)
    for sample, row in zip(samples, logits):
        assert sample.pred_score.shape == (3, ) and sample.pred_label.shape == (1, )
        assert torch.all(sample.pred_score >= 0)
        assert sample.pred_score.sum().item() == pytest.approx(1.0, abs=1e-6)
        assert torch.allclose(sample.pred_score, row.softmax(0), atol=1e-6)
        assert sample.pred_label.item() == sample.pred_score.argmax().item()
        assert 'gt_label' in sample  # the metric reads both from the same sample


def test_overfits_four_images():
    # an untrained model (lr 0) stays at loss log(3) and mislabels 2 of these
    torch.manual_seed(0)
    model = _build().train()
    optim = adam(model, 1e-3, weight_decay=0)
    accs, losses = [], []
    for _ in range(40):
        log_vars = model.train_step(_batch(), optim)
        accs.append(log_vars['slice_acc'].item())
        losses.append(log_vars['slice_loss'].item())
    assert min(accs[-10:]) == 100.0, accs
    assert losses[-1] < 0.05 < 1.0 < losses[0], losses
    # ...and in eval mode (BN running statistics) on the same images
    model.eval()
    samples = model.test_step(_batch())
    assert [s.pred_label.item() for s in samples] == [0, 1, 2, 2]
    assert min(s.pred_score[s.gt_label].item() for s in samples) > 0.9


def test_errors_are_named():
    model = _build()
    data = model.data_preprocessor(_batch(), True)
    del data['data_samples'][1].gt_label
    with pytest.raises(KeyError, match=r'data samples \[1\].*no gt_label'):
        model(**data, mode='loss')
    with pytest.raises(RuntimeError, match='invalid mode'):
        model(data['inputs'], mode='train')
    with pytest.raises(ValueError, match='num_classes=2 but 3 classes'):
        MODELS.build(model_cfg(BASELINE, num_classes=2))
    with pytest.raises(ValueError, match='512 channels but in_channels=256'):
        MODELS.build(model_cfg(BASELINE, in_channels=256))(data['inputs'])


@needs_bf16
def test_cpu_bf16_runs_the_backbone_in_bf16_and_keeps_float32_out():
    model = _build()
    data = model.data_preprocessor(_batch(), False)
    model.eval()
    plain = model(data['inputs'], mode='tensor')
    conv_dtypes = []
    model.backbone.conv1.register_forward_hook(
        lambda mod, args, out: conv_dtypes.append(out.dtype))
    model.cpu_bf16 = 'inference'
    fast = model(data['inputs'], mode='tensor')
    assert conv_dtypes == [torch.bfloat16] and fast.dtype == torch.float32
    assert torch.allclose(fast, plain, atol=0.02, rtol=0.05)
    # 'inference' leaves training in float32; 'always' trains through the casts
    model.train()
    model(**model.data_preprocessor(_batch(), True), mode='loss')
    assert conv_dtypes[-1] == torch.float32
    model.cpu_bf16 = 'always'
    losses = model(**model.data_preprocessor(_batch(), True), mode='loss')
    assert conv_dtypes[-1] == torch.bfloat16
    losses['slice_loss'].backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="cpu_bf16 must be one of"):
        MODELS.build(model_cfg(BASELINE, cpu_bf16='on'))
