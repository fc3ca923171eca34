"""A trained tiny SSM shared by the engine tests that run tools on a checkpoint."""
import os.path as osp

import pytest
from mmengine.runner import Runner

from tests.conftest import short_run_cfg


@pytest.fixture(scope='session')
def trained(prepared_phantom, tmp_path_factory):
    """(config file, checkpoint) of a 2-iteration run on the tiny phantom."""
    work_dir = str(tmp_path_factory.mktemp('trained'))
    cfg = short_run_cfg(prepared_phantom, work_dir, num_cls=2)
    Runner.from_cfg(cfg).train()
    cfg.load_from = None
    config = osp.join(work_dir, 'tiny_ssm.py')
    cfg.dump(config)
    return config, osp.join(work_dir, 'epoch_1.pth')
