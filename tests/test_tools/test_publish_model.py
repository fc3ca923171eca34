"""publish_model.py: a checkpoint stripped to meta + state_dict, optionally float16."""
import os.path as osp
import pickle
import re

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.logging import MessageHub
from mmengine.runner import load_checkpoint

from tests.conftest import load_tool, model_cfg

publish_model = load_tool('model_converters/publish_model.py')


def _training_checkpoint(path):
    """A checkpoint as training writes it: with optimizer state and a message
    hub (whose HistoryBuffers need mmdet_covid's allow-list to load)."""
    torch.manual_seed(0)
    model = MODELS.build(model_cfg())
    model.init_weights()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    sum(p.sum() for p in model.parameters()).backward()
    optimizer.step()  # momentum buffers: as large as the weights
    hub = MessageHub.get_instance('test_publish_model')
    hub.update_scalar('train/loss', 0.5)
    torch.save(dict(meta=dict(epoch=3, dataset_meta=dict(classes=('Normal', 'CP', 'COVID-19'))),
                    state_dict=model.state_dict(), optimizer=optimizer.state_dict(),
                    message_hub=hub.state_dict(), param_schedulers=[]), path)
    return model


@pytest.mark.parametrize('half', [False, True])
def test_publish_keeps_meta_and_weights(tmp_path, half):
    main = publish_model.main

    model = _training_checkpoint(tmp_path / 'epoch_3.pth')
    main([str(tmp_path / 'epoch_3.pth'), str(tmp_path / 'out' / 'ssm.pth')] +
         (['--half'] if half else []))
    published, = (tmp_path / 'out').iterdir()
    assert re.fullmatch(r'ssm-[0-9a-f]{8}\.pth', published.name)
    ckpt = torch.load(published, map_location='cpu', weights_only=True)
    assert sorted(ckpt) == ['meta', 'state_dict'] and ckpt['meta']['epoch'] == 3
    assert osp.getsize(published) < osp.getsize(tmp_path / 'epoch_3.pth') / (3.5 if half else 1.8)
    weights = ckpt['state_dict']
    assert weights['backbone.conv1.weight'].dtype == (torch.float16 if half else torch.float32)
    assert weights['backbone.bn1.num_batches_tracked'].dtype == torch.long
    fresh = MODELS.build(model_cfg())
    load_checkpoint(fresh, str(published), map_location='cpu', strict=True)
    for name, value in model.state_dict().items():
        expected = value.half().float() if half and value.is_floating_point() else value
        assert torch.equal(fresh.state_dict()[name], expected), name


def test_refuses_what_is_not_a_training_checkpoint(tmp_path):
    publish = publish_model.publish

    torch.save({'weights': torch.zeros(2)}, tmp_path / 'plain.pth')
    with pytest.raises(ValueError, match=r'plain.pth: not a training checkpoint .*weights'):
        publish(str(tmp_path / 'plain.pth'), str(tmp_path / 'x.pth'))
    _training_checkpoint(tmp_path / 'ok.pth')
    with pytest.raises(ValueError, match=r"must end in \.pth, got '.*x\.bin'"):
        publish(str(tmp_path / 'ok.pth'), str(tmp_path / 'x.bin'))


class _RunsCode:
    def __reduce__(self):
        return (print, ('code ran',))


def test_a_crafted_checkpoint_runs_no_code(tmp_path, capsys):
    publish = publish_model.publish

    torch.save(dict(state_dict={}, meta=_RunsCode()), tmp_path / 'crafted.pth')
    with pytest.raises(pickle.UnpicklingError):
        publish(str(tmp_path / 'crafted.pth'), str(tmp_path / 'x.pth'))
    assert 'code ran' not in capsys.readouterr().out


def test_publish_keeps_the_training_data(trained, tmp_path):
    publish = publish_model.publish

    from mmdet_covid.utils.provenance import read_training_data

    data = read_training_data(trained[1])
    assert data['seg']['synthetic'] is True
    assert read_training_data(publish(trained[1], str(tmp_path / 'ssm.pth'))) == data
