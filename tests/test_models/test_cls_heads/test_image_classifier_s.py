import pytest
import torch
import torch.nn.functional as F

from mmdet_covid.datasets import COVIDX_CLASSES
from mmdet_covid.models import ImageClassifierS


def test_shapes_init_and_class_order():
    s = ImageClassifierS()
    s.init_weights()
    assert [m.out_features for m in s.mlp if isinstance(m, torch.nn.Linear)] == [512, 512, 3]
    assert s.classes == COVIDX_CLASSES == ('Normal', 'CP', 'COVID-19')
    assert sum(p.numel() for p in s.parameters()) == 592387  # Table I: S = 0.59M
    assert torch.all(s.mlp[0].bias == 0)
    # Kaiming fan_out (normal, relu): std = sqrt(2 / fan_out)
    std = s.mlp[0].weight.std().item()
    assert abs(std - (2 / 512) ** 0.5) < 0.1 * (2 / 512) ** 0.5


def test_default_loss_is_paper_eq3_bce_on_one_hot():
    s = ImageClassifierS()
    rows, labels = torch.randn(4, 128, 5), torch.tensor([0, 1, 2, 2])
    losses = s.loss(rows, labels)
    expected = F.binary_cross_entropy_with_logits(s(rows), F.one_hot(labels, 3).float())
    assert torch.allclose(losses['loss'], expected)
    assert 0 <= losses['acc'] <= 100


def test_cross_entropy_option_and_probabilities():
    s = ImageClassifierS(loss=dict(type='CrossEntropyLoss'))
    rows, labels = torch.randn(3, 128, 5), torch.tensor([2, 0, 1])
    assert torch.allclose(s.loss(rows, labels)['loss'], F.cross_entropy(s(rows), labels))
    probs = s.predict(rows)
    assert probs.shape == (3, 3) and torch.allclose(probs.sum(1), torch.ones(3))


def test_wrong_feature_size_is_named():
    with pytest.raises(ValueError, match='expects 640 features'):
        ImageClassifierS()(torch.randn(2, 64, 5))
