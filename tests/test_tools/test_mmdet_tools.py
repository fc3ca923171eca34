"""mmdet's own analysis tools run on the SSM configs."""
import os.path as osp
import sys

import mmdet
import pytest

from tests.conftest import run_command, tiny_ssm_cfg

MMDET_TOOLS = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools')


@pytest.fixture(scope='module')
def tiny_config(prepared_phantom, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('mmdet_tools')
    cfg = tiny_ssm_cfg(prepared_phantom, str(work_dir))
    config = str(work_dir / 'tiny_ssm.py')
    cfg.dump(config)
    return config


def _run(script, *args):
    return run_command([sys.executable, osp.join(MMDET_TOOLS, script), *args])


def test_get_flops(tiny_config):
    """The frozen image branch is an ordinary module call: jit tracing works."""
    proc = _run('analysis_tools/get_flops.py', tiny_config, '--num-images', '1')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'Flops:' in proc.stdout and 'Params: 8.267M' in proc.stdout


def test_analyze_logs_plots_the_losses_of_a_run(trained, tmp_path):
    """The `tools` extra brings seaborn, which analyze_logs.py needs."""
    import glob

    config, _ = trained
    [log] = [p for p in glob.glob(osp.join(osp.dirname(config), '*', 'vis_data', '*.json'))
             if osp.basename(p) != 'scalars.json']
    out = str(tmp_path / 'losses.png')
    proc = _run('analysis_tools/analyze_logs.py', 'plot_curve', log, '--keys', 'seg_loss',
                'slice_loss', '--out', out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert osp.getsize(out) > 0


def test_tensorboard_backend_records_the_scalars(tmp_path):
    from mmengine.visualization import TensorboardVisBackend

    from mmdet_covid.visualization import SSMVisualizer

    visualizer = SSMVisualizer(name='tensorboard_test', save_dir=str(tmp_path),
                               vis_backends=[dict(type=TensorboardVisBackend)])
    visualizer.add_scalars({'cls/f1_weighted': 0.5, 'cls/sensitivity_CP': float('nan')}, step=1)
    visualizer.close()
    import glob
    assert glob.glob(str(tmp_path / 'vis_data' / 'events.out.tfevents.*'))
