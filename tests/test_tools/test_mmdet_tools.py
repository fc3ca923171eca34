"""mmdet's own analysis tools run on the SSM configs."""
import os
import os.path as osp
import subprocess
import sys

import mmdet
import pytest

from tests.conftest import REPO_ROOT, tiny_ssm_cfg

MMDET_TOOLS = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools')


@pytest.fixture(scope='module')
def tiny_config(prepared_phantom, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('mmdet_tools')
    cfg = tiny_ssm_cfg(prepared_phantom, str(work_dir))
    config = str(work_dir / 'tiny_ssm.py')
    cfg.dump(config)
    return config


def _run(script, *args):
    return subprocess.run([sys.executable, osp.join(MMDET_TOOLS, script), *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=REPO_ROOT))


def test_get_flops(tiny_config):
    """The frozen image branch is an ordinary module call: jit tracing works."""
    proc = _run('analysis_tools/get_flops.py', tiny_config, '--num-images', '1')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'Flops:' in proc.stdout and 'Params: 8.267M' in proc.stdout
