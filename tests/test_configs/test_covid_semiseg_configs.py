"""The COVID-SemiSeg configs on the real slices (Inf-Net's split): the datasets they build,
the window that maps HU to the slices' grey levels, and one training step each."""
import glob
import os.path as osp
import subprocess

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from mmdet_covid.engine.runner.ssm_runner import SSMRunner
from mmdet_covid.io.ct_io import apply_window
from tests.conftest import CONFIG_DIR, REPO_ROOT

CONFIGS = {'binary': 'covid_semiseg/ssm_r18-b3-aug_seg_covid-semiseg.py',
           'two_class': 'covid_semiseg/ssm_r18-b3-aug_seg-2cls_covid-semiseg.py',
           'r50': 'covid_semiseg/mask-rcnn_r50_fpn_seg_covid-semiseg.py'}


@pytest.fixture(scope='module')
def semiseg_root(covid_semiseg, tmp_path_factory):
    out = tmp_path_factory.mktemp('semiseg') / 'covid_semiseg'
    subprocess.run(['bash', osp.join(REPO_ROOT, 'tools', 'prepare_covid_semiseg.sh'),
                    covid_semiseg, str(out)], check=True, capture_output=True)
    return str(out)


def _cfg(name, root, work_dir):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, CONFIGS[name]))
    cfg.seg_data_root = root + '/'
    cfg.work_dir = str(work_dir)
    return cfg


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_the_split_of_the_published_table(semiseg_root, tmp_path, name):
    runner = SSMRunner.from_cfg(_cfg(name, semiseg_root, tmp_path))
    train = runner.train_dataloader.dataset
    test = runner.test_dataloader.dataset
    assert len(train) == 50 and len(test) == 48
    sample = train[0]
    assert sample['inputs'].shape[0] == 3 and len(sample['data_samples'].gt_instances) > 0
    classes = test.metainfo['classes']
    assert classes == (('ground_glass', 'consolidation') if name == 'two_class' else
                       ('lesion', ))


def test_the_window_puts_hu_at_the_slices_grey_levels(covid_semiseg):
    """Aerated lung (-850 HU) and soft tissue (+40 HU) through the configs' window land
    within the quartiles of the slices' darkest and brightest grey modes."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, CONFIGS['binary']))
    window = cfg.ct_window
    dark, bright = [], []
    files = sorted(glob.glob(osp.join(covid_semiseg, '*', '*', 'Imgs', '*.jpg')) +
                   glob.glob(osp.join(covid_semiseg, '*', '*', '*', 'Imgs', '*.jpg')))
    assert len(files) >= 98
    for path in files:
        grey = np.array(Image.open(path).convert('L')).ravel()
        hist = np.convolve(np.bincount(grey, minlength=256), np.ones(5) / 5, 'same')
        dark.append(np.argmax(hist[:128]))
        bright.append(128 + np.argmax(hist[128:251]))
    lung, soft = apply_window(np.array([-850.0, 40.0]), window['window_level'],
                              window['window_width'])
    assert np.percentile(dark, 25) <= lung <= np.percentile(dark, 75)
    assert np.percentile(bright, 25) <= soft <= np.percentile(bright, 75)
    # the stock lung window (-600 / 1500) would not: lung at 85, soft tissue at 236
    stock = apply_window(np.array([-850.0, 40.0]))
    assert stock[0] > np.percentile(dark, 75) and stock[1] > np.percentile(bright, 75)
