"""lesion_pictures.py: predictions beside the truth on COVID-SemiSeg test slices (an
untrained SSM: the plumbing, not what it learned)."""
import os.path as osp
import subprocess

import pytest
from mmengine.config import Config

from tests.conftest import CONFIG_DIR, REPO_ROOT, load_tool, save_untrained

main = load_tool('analysis_tools/lesion_pictures.py').main


@pytest.fixture(scope='module')
def semiseg_model(covid_semiseg, tmp_path_factory):
    root = tmp_path_factory.mktemp('pictures')
    data = root / 'covid_semiseg'
    subprocess.run(['bash', osp.join(REPO_ROOT, 'tools', 'prepare_covid_semiseg.sh'),
                    covid_semiseg, str(data)], check=True, capture_output=True)
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'covid_semiseg',
                                   'ssm_r18-b3-aug_seg_covid-semiseg.py'))
    cfg.seg_data_root = str(data) + '/'
    config, checkpoint = save_untrained(cfg, root, 'semiseg')
    return config, checkpoint


def test_two_panels_per_chosen_slice(semiseg_model, tmp_path, capsys):
    out = tmp_path / 'p.png'
    main([*semiseg_model, '--out', str(out), '--slices', '18', '21', '--score-thr', '0'])
    assert 'wrote' in capsys.readouterr().out and osp.getsize(out) > 10_000


def test_an_unknown_slice_is_named(semiseg_model, tmp_path):
    with pytest.raises(SystemExit):
        main([*semiseg_model, '--out', str(tmp_path / 'p.png'), '--slices', 'nope'])
