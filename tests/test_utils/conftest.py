"""Fixtures of the checkpoint tests."""
import os.path as osp

import pytest

from tests.conftest import short_run_cfg


@pytest.fixture(scope='module')
def tiny_config(prepared_phantom, tmp_path_factory):
    """A config file: the tiny SSM, one iteration of training, no validation."""
    work_dir = str(tmp_path_factory.mktemp('tiny_cfg'))
    config = osp.join(work_dir, 'tiny_ssm.py')
    short_run_cfg(prepared_phantom, work_dir).dump(config)
    return config
