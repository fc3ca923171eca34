"""The baselines train and test on the same data as the SSM."""
import pytest

from mmdet_covid.engine.runner import SSMRunner
from tests.conftest import short_run_cfg


@pytest.mark.parametrize('config,metric', [
    ('baselines/mask-rcnn_r50_fpn_50e_cncb.py', 'seg/segm_mAP'),
    ('baselines/resnet18_50e_covidx.py', 'cls/f1_weighted'),
    ('ssm/ssm_r18-b3-base-pretrain_50e_cncb.py', 'seg/segm_mAP'),
])
def test_baseline_trains_and_tests(prepared_phantom, tmp_path, config, metric):
    cfg = short_run_cfg(prepared_phantom, str(tmp_path), num_cls=2, config=config)
    runner = SSMRunner.from_cfg(cfg)
    runner.train()
    cfg.load_from = str(tmp_path / 'epoch_1.pth')
    cfg.experiment_name += '_test'
    metrics = SSMRunner.from_cfg(cfg).test()
    assert metric in metrics
