"""inference_steps: a config's test pipeline as the inference APIs run it."""
import os.path as osp

from mmengine.config import Config

from mmdet_covid.apis.inference import inference_steps
from tests.conftest import CONFIG_DIR


def _types(steps):
    return [s['type'] for s in steps]


def test_a_lesion_set_config_loses_its_annotations_and_gets_its_window():
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'covid_semiseg',
                                   'ssm_r18-b3-aug_seg_covid-semiseg.py'))
    steps = inference_steps(cfg, loader='CTInferencerLoader')
    assert _types(steps) == ['CTInferencerLoader', 'Resize', 'PackSSMInputs']
    assert steps[0]['window_level'] == -420.0 and steps[0]['window_width'] == 1320.0
    # the caller's options win over the config's window; the config is not changed
    steps = inference_steps(cfg, dict(window_level=-600.0))
    assert steps[0]['window_level'] == -600.0 and steps[0]['window_width'] == 1320.0
    assert 'window_level' not in cfg.test_dataloader.dataset.pipeline[0]


def test_a_joint_config_has_no_window_of_its_own():
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'ssm', 'ssm_r18-b3-aug_demo_phantom.py'))
    steps = inference_steps(cfg)
    assert steps[0]['type'] == 'LoadCTSlice' and 'window_level' not in steps[0]
    assert 'BodyCrop' not in _types(steps) and 'LoadAnnotations' not in _types(steps)
