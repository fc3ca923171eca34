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


def test_an_image_size_set_over_an_inherited_pipeline_is_the_one_inferred_at():
    """The float32 demo config inherits its pipelines and sets only the image size:
    MMEngine leaves the inherited Resize at 512x512, the runner trains and tests at
    384x384, and inference must see what the runner trained on."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'ssm', 'ssm_r18-b3-aug_demo-384_phantom.py'))
    assert cfg.test_dataloader.dataset.pipeline[2]['scale'] == (512, 512)  # as loaded
    resize = [s for s in inference_steps(cfg) if s['type'] == 'Resize']
    assert [s['scale'] for s in resize] == [(384, 384)]
    assert cfg.test_dataloader.dataset.pipeline[2]['scale'] == (512, 512)  # not changed
    # a config at the base's size keeps it
    base = Config.fromfile(osp.join(CONFIG_DIR, 'ssm', 'ssm_r18-b3-aug_demo_phantom.py'))
    assert [s['scale'] for s in inference_steps(base) if s['type'] == 'Resize'] == [(512, 512)]
