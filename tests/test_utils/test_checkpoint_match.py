"""A checkpoint of another variant is refused for testing and inference,
with the keys that differ named; fine-tuning from ``load_from`` reports them."""
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config

from mmdet_covid.apis import init_ssm
from mmdet_covid.utils import (CheckpointMismatchError, check_checkpoint_matches,
                               compare_state_dicts)
from tests.conftest import CONFIG_DIR, run_command


def test_compare_state_dicts_names_every_kind_of_difference():
    model = {'a.weight': torch.zeros(2, 3), 'b.weight': torch.zeros(4), 'c': torch.zeros(1)}
    ckpt = {'module.a.weight': torch.zeros(2, 3), 'b.weight': torch.zeros(5),
            'd.weight': torch.zeros(1)}
    diff = compare_state_dicts(model, ckpt)
    assert diff.missing == ['c']
    assert diff.unexpected == ['d.weight']
    assert diff.mismatched == [('b.weight', (5, ), (4, ))]
    assert not compare_state_dicts(model, dict(model))


def _model(config):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, config))
    return MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """The R18 (blocks 1-3, augmented) model's own checkpoint, and one of R34."""
    folder = tmp_path_factory.mktemp('variants')
    paths = {}
    for name, config in [('r18', 'ssm/ssm_r18-b3-aug_50e_cncb-covidx.py'),
                         ('r34', 'ssm/ssm_r34-b3-aug_50e_cncb-covidx.py')]:
        paths[name] = str(folder / f'{name}.pth')
        torch.save(dict(state_dict=_model(config).state_dict(), meta=dict()), paths[name])
    return paths


def test_own_checkpoint_fits_another_variant_is_refused(checkpoints):
    model = _model('ssm/ssm_r18-b3-aug_50e_cncb-covidx.py')
    assert not check_checkpoint_matches(model, checkpoints['r18'])
    with pytest.raises(CheckpointMismatchError) as err:
        check_checkpoint_matches(model, checkpoints['r34'])
    message = str(err.value)
    # ResNet34 has 3/4/6 blocks in stages 1-3 where ResNet18 has 2/2/2.
    assert 'checkpoint keys the model does not have' in message
    assert 'backbone.layer1.2.*' in message
    assert checkpoints['r34'] in message and 'another variant' in message


def test_blocks_1_2_checkpoint_in_blocks_1_3_model_names_missing_keys(tmp_path):
    path = str(tmp_path / 'b2.pth')
    torch.save(_model('ssm/ssm_r18-b2-aug_50e_cncb-covidx.py').state_dict(), path)
    with pytest.raises(CheckpointMismatchError, match='missing from the checkpoint') as err:
        check_checkpoint_matches(_model('ssm/ssm_r18-b3-aug_50e_cncb-covidx.py'), path)
    assert 'backbone.layer3.' in str(err.value) or 'with another shape' in str(err.value)


def test_api_loads_its_own_variant_and_refuses_another(tiny_config, checkpoints):
    model = init_ssm(tiny_config, checkpoints['r18'])
    # every weight and buffer is the checkpoint's (init_detector's random init would differ)
    saved = torch.load(checkpoints['r18'], map_location='cpu')['state_dict']
    loaded = model.state_dict()
    assert set(loaded) == set(saved)
    assert [k for k in saved if not torch.equal(loaded[k], saved[k])] == []
    assert model.training_data is None  # the checkpoint records no training data
    assert not model.training and model.cfg.filename == tiny_config
    with pytest.raises(CheckpointMismatchError, match=r'backbone\.layer1\.2\.\*'):
        init_ssm(tiny_config, checkpoints['r34'])


@pytest.mark.parametrize('tool', ['tools/test.py', 'tools/infer.py'])
def test_tools_refuse_another_variant(tiny_config, checkpoints, tmp_path, tool):
    image = str(tmp_path / 'slice.png')
    cv2.imwrite(image, np.full((64, 64), 90, np.uint8))
    args = {'tools/test.py': ['--work-dir', str(tmp_path / 'work')],
            'tools/infer.py': [image]}[tool]
    proc = run_command([sys.executable, tool, tiny_config, checkpoints['r34']] + args)
    assert proc.returncode != 0
    assert 'CheckpointMismatchError' in proc.stderr, proc.stderr[-2000:]
    assert 'backbone.layer1.2.*' in proc.stderr


def test_load_from_for_fine_tuning_says_what_it_skipped(tiny_config, checkpoints, tmp_path):
    proc = run_command(
        [sys.executable, 'tools/train.py', tiny_config, '--work-dir', str(tmp_path / 'work'),
         '--cfg-options', f'load_from={checkpoints["r34"]}'])
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = proc.stdout + proc.stderr
    # mmengine's own report of a non-strict load, every key named
    assert 'unexpected key in source state_dict' in log
    assert 'backbone.layer1.2.conv1.weight' in log
