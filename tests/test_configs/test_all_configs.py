"""Every config a user can pass to mim train/test loads and builds its model."""
import glob
import os.path as osp

import pytest
from mmdet.registry import MODELS
from mmengine.config import Config

from tests.conftest import CONFIG_DIR

CONFIGS = sorted(p for p in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
                 if '_base_' not in p)


def test_there_are_configs():
    assert len(CONFIGS) >= 15


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, CONFIG_DIR))
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.train_cfg and cfg.test_cfg and cfg.optim_wrapper
    real = 'covid_semiseg' in path  # real CT, prepared by tools/prepare_covid_semiseg.sh
    assert cfg.train_dataloader.dataset.data_root.startswith(
        'data/covid_semiseg' if real else 'data/phantom')
    MODELS.build(cfg.model)
