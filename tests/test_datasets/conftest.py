"""Fixtures of the dataset tests: a phantom prepared by the real one-command script."""
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='session')
def prepared_phantom(tmp_path_factory):
    """``bash tools/prepare_phantom.sh`` at 128x128 (area rule scaled down to 10 px).

    Returns:
        The data root (with a trailing slash), as the configs' ``data_root``.
    """
    root = str(tmp_path_factory.mktemp('data') / 'phantom')
    env = dict(os.environ, PYTHON=sys.executable, MIN_AREA='10')
    proc = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'prepare_phantom.sh'), root, '--seg', '12',
         '--cls', '18', '--size', '128', '--seed', '2', '--frames-per-scan', '3',
         '--workers', '1'], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root + '/'


@pytest.fixture(scope='session')
def registered():
    """mmdet's and this plugin's modules in the registries (default scope mmdet)."""
    from mmdet.utils import register_all_modules

    register_all_modules()
    import mmdet_covid  # noqa: F401
