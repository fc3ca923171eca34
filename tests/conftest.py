"""Shared fixtures and helpers: the plugin's configs, tiny hand-made batches, the
``slow`` mark of the end-to-end tests, and checks that several test modules make."""
import functools
import importlib.util
import os
import os.path as osp
import re
import subprocess
import sys
import types
import uuid
from typing import List

import numpy as np
import pytest
import torch
from mmdet.models.dense_heads import RPNHead
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import mmdet_covid  # noqa: F401  (registers the plugin)
from mmdet_covid.engine.runner import SSMRunner, apply_dataset_settings
from mmdet_covid.models import AugmentedRoIHead, BatchPasteMaskHead, BatchRPNHead

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs')
TOOLS_DIR = osp.join(REPO_ROOT, 'tools')
MODEL_BASE = osp.join(CONFIG_DIR, '_base_', 'models', 'ssm_r18-b3.py')

# Fixtures that generate a phantom, train a model or read a real data set: a test
# that uses one, directly or through another fixture, is an end-to-end test.
SLOW_FIXTURES = frozenset({'prepared_phantom', 'model_files', 'trained', 'phantom_scans',
                           'tiny_phantom', 'covid_ct_md', 'covid_semiseg'})


def pytest_collection_modifyitems(config, items):
    """Mark ``slow`` every test that uses a fixture of :data:`SLOW_FIXTURES`
    (``pytest -m "not slow"`` is the unit lane; ``make test`` runs all)."""
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, 'fixturenames', ())):
            item.add_marker(pytest.mark.slow)


# A test that needs the CPU's native bfloat16 arithmetic (cpu_bf16).
needs_bf16 = pytest.mark.skipif(not torch.ops.mkldnn._is_mkldnn_bf16_supported(),
                                reason='this CPU has no native bfloat16 arithmetic')


@pytest.fixture(scope='session')
def prepared_phantom(tmp_path_factory):
    """``bash tools/prepare_phantom.sh`` at 128x128 (area rule scaled down to 10 px).

    Returns:
        The data root (with a trailing slash), as the configs' ``data_root``.
    """
    root = str(tmp_path_factory.mktemp('data') / 'phantom')
    env = dict(os.environ, PYTHON=sys.executable, MIN_AREA='10')
    proc = subprocess.run(
        ['bash', osp.join(REPO_ROOT, 'tools', 'prepare_phantom.sh'), root, '--seg', '12',
         '--cls', '18', '--size', '128', '--seed', '2', '--frames-per-scan', '3',
         '--workers', '1'], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root + '/'


def tiny_ssm_cfg(data_root: str, work_dir: str, size: int = 128,
                 config: str = 'ssm/ssm_r18-b3-aug_50e_cncb-covidx.py') -> Config:
    """A plugin config re-pointed at a small phantom, images resized to ``size``."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, config))
    cfg.seg_data_root = cfg.cls_data_root = data_root
    cfg.seg_img_scale = cfg.cls_img_scale = (size, size)
    apply_dataset_settings(cfg)  # also for a plain Runner.from_cfg
    cfg.work_dir = work_dir
    cfg.experiment_name = f'test_{uuid.uuid4().hex[:8]}'
    cfg.randomness = dict(seed=0)
    cfg.default_hooks.logger.interval = 1
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
    return cfg


def short_run_cfg(data_root: str, work_dir: str, num_cls: int = 1, epochs: int = 1,
                  config: str = 'ssm/ssm_r18-b3-aug_50e_cncb-covidx.py') -> Config:
    """:func:`tiny_ssm_cfg` that trains ``epochs`` passes over the first
    ``num_cls`` training samples, without validation or a best checkpoint."""
    cfg = tiny_ssm_cfg(data_root, work_dir, config=config)
    cfg.train_dataloader.dataset.indices = num_cls
    cfg.train_cfg.max_epochs = epochs
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.save_best = None
    return cfg


@pytest.fixture(autouse=True)
def _mmdet_scope():
    init_default_scope('mmdet')
    torch.manual_seed(0)


def model_cfg(config: str = MODEL_BASE, **overrides) -> Config:
    """``cfg.model`` of a config file, with ``overrides`` merged in."""
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(dict(model=overrides))
    return cfg.model


def untrained_ssm():
    """The base SSM with its initial weights, in eval mode, keeping every box (an
    untrained model scores low): for tests of what a forward runs, not what it finds."""
    model = MODELS.build(model_cfg())
    model.init_weights()
    model.eval()
    model.roi_head.test_cfg.score_thr = 0.0
    return model


def adam(model: torch.nn.Module, lr: float = 1e-3, weight_decay: float = 1e-3) -> OptimWrapper:
    """Adam over the trainable parameters, as the configs build their optimiser
    (``TrainableParamsOptimWrapperConstructor``)."""
    return build_optim_wrapper(model, dict(
        type='OptimWrapper', constructor='TrainableParamsOptimWrapperConstructor',
        optimizer=dict(type='Adam', lr=lr, weight_decay=weight_decay)))


# The losses of the SSM's segmentation step.
SEG_KEYS = {'seg_loss_rpn_cls', 'seg_loss_rpn_bbox', 'seg_loss_cls', 'seg_acc',
            'seg_loss_bbox', 'seg_loss_mask'}


def changed(before: dict, model: torch.nn.Module, prefix: str) -> bool:
    """Whether any state (params or buffers) under ``prefix`` differs from ``before``
    (a copy of the model's ``state_dict``)."""
    after = model.state_dict()
    keys = [k for k in before if k.startswith(prefix)]
    assert keys, prefix
    return any(not torch.equal(before[k], after[k]) for k in keys)


def _meta(size: int) -> dict:
    return dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size),
                scale_factor=(1.0, 1.0), flip=False, flip_direction=None)


def _ct_like(rng: np.random.Generator, size: int, boxes: np.ndarray) -> np.ndarray:
    """Grey image: dark lungs with brighter rectangles where the lesions are."""
    img = rng.normal(60, 10, (size, size)).clip(0, 255)
    for x1, y1, x2, y2 in boxes.astype(int):
        img[y1:y2, x1:x2] = rng.normal(170, 10, (y2 - y1, x2 - x1)).clip(0, 255)
    return np.repeat(img[None].astype(np.uint8), 3, axis=0)


def seg_batch(num_imgs: int = 2, size: int = 128, num_lesions: int = 2, seed: int = 0) -> dict:
    """A packed segmentation batch as ``PackDetInputs`` would produce it."""
    rng = np.random.default_rng(seed)
    inputs, samples = [], []
    for _ in range(num_imgs):
        xy = rng.uniform(0, size * 0.6, (num_lesions, 2))
        wh = rng.uniform(size * 0.1, size * 0.3, (num_lesions, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
        masks = np.zeros((num_lesions, size, size), np.uint8)
        for k, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
            masks[k, y1:y2, x1:x2] = 1
        sample = DetDataSample(metainfo=_meta(size))
        sample.gt_instances = InstanceData(
            bboxes=HorizontalBoxes(torch.from_numpy(boxes)),
            labels=torch.zeros(num_lesions, dtype=torch.long),
            masks=BitmapMasks(masks, size, size))
        sample.ignored_instances = InstanceData(
            bboxes=HorizontalBoxes(torch.zeros(0, 4)), labels=torch.zeros(0, dtype=torch.long))
        inputs.append(torch.from_numpy(_ct_like(rng, size, boxes)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def cls_batch(labels: List[int] = (0, 2), size: int = 128, seed: int = 1) -> dict:
    """A packed classification batch: images with ``gt_label``, no instances."""
    rng = np.random.default_rng(seed)
    inputs, samples = [], []
    for label in labels:
        boxes = rng.uniform(0, size * 0.7, (int(label), 2))
        boxes = np.concatenate([boxes, boxes + size * 0.2], axis=1)
        sample = DetDataSample(metainfo=_meta(size))
        sample.gt_instances = InstanceData(
            bboxes=HorizontalBoxes(torch.zeros(0, 4)), labels=torch.zeros(0, dtype=torch.long))
        sample.gt_label = torch.tensor([label], dtype=torch.long)
        inputs.append(torch.from_numpy(_ct_like(rng, size, boxes)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def assert_batched_post_processing_is_mmdets(monkeypatch, device: str = 'cpu') -> None:
    """The RPN's proposals, the boxes and the masks post-processed for the whole
    batch at once give the detections and slice classes of mmdet's image-by-image
    post-processing, exactly (only equal scores could be ordered differently)."""
    torch.manual_seed(0)
    model = MODELS.build(model_cfg()).to(device)
    model.init_weights()
    model.eval()
    model.roi_head.test_cfg.score_thr = 0.0  # all 128 detections of the untrained model
    outs = []
    for batched in (True, False):
        if not batched:
            monkeypatch.setattr(BatchRPNHead, 'predict_by_feat', RPNHead.predict_by_feat)
            monkeypatch.setattr(AugmentedRoIHead, 'predict_bbox', StandardRoIHead.predict_bbox)
            monkeypatch.setattr(BatchPasteMaskHead, 'predict_by_feat',
                                FCNMaskHead.predict_by_feat)
        with torch.no_grad():
            data = model.data_preprocessor(seg_batch(3, size=128), False)
            outs.append(model(**data, mode='predict'))
    for a, b in zip(*outs):
        assert len(a.pred_instances) == len(b.pred_instances) == 128
        for key in ('bboxes', 'scores', 'labels', 'masks'):
            assert torch.equal(a.pred_instances.get(key), b.pred_instances.get(key)), key
        assert torch.equal(a.pred_score, b.pred_score)


@functools.lru_cache(maxsize=None)
def load_tool(path: str) -> types.ModuleType:
    """A tool as a module, for a test to call its ``main`` or its functions, loaded from
    its file: ``load_tool('analysis_tools/seed_table.py')``.

    The module search path is left alone (a tool imports the package, never another
    tool). Each tool is loaded once per session and registered in ``sys.modules`` as
    ``tools_<path>`` (``tools_analysis_tools_seed_table``), so that what it defines
    pickles and ``monkeypatch`` changes the module the test calls.

    Args:
        path: the tool's file, relative to ``tools/``.
    """
    file = osp.join(TOOLS_DIR, path)
    if not osp.isfile(file):
        raise FileNotFoundError(f'load_tool({path!r}): no {file}')
    name = 'tools_' + re.sub(r'\W', '_', osp.splitext(path)[0])
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def run_command(args, cwd: str = REPO_ROOT, timeout: int = 600):
    """Run ``args`` as a user would (a tool, ``mim``, ``python -c``), from ``cwd``,
    with this repository importable; stdout and stderr captured as text.

    Returns:
        subprocess.CompletedProcess: check ``returncode`` (no exception).
    """
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONPATH=REPO_ROOT))


def copy_series(src: str, dst: str, **changes) -> None:
    """Copy a DICOM series, changing header fields (callables get the dataset)."""
    import pydicom

    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        ds = pydicom.dcmread(osp.join(src, name))
        for key, value in changes.items():
            setattr(ds, key, value(ds) if callable(value) else value)
        ds.save_as(osp.join(dst, name))


def save_untrained(cfg: Config, folder, name: str):
    """Write ``cfg`` and the initial weights of its model (seed 0) to
    ``folder/name.py`` and ``folder/name.pth``, the files a tool is given.

    Returns:
        tuple: ``(config, checkpoint)`` paths.
    """
    config, checkpoint = osp.join(str(folder), name + '.py'), osp.join(str(folder), name + '.pth')
    cfg.dump(config)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict(), meta={}), checkpoint)
    return config, checkpoint


@pytest.fixture(scope='session')
def model_files(prepared_phantom, tmp_path_factory):
    """(config, checkpoint) of an untrained tiny SSM, for the inference tools:
    their plumbing does not depend on what the weights learned."""
    root = tmp_path_factory.mktemp('infer_model')
    return save_untrained(tiny_ssm_cfg(prepared_phantom, str(root)), root, 'tiny')


@pytest.fixture(scope='session')
def trained(prepared_phantom, tmp_path_factory):
    """(config file, checkpoint) of a 2-iteration run on the tiny phantom."""
    work_dir = str(tmp_path_factory.mktemp('trained'))
    cfg = short_run_cfg(prepared_phantom, work_dir, num_cls=2)
    SSMRunner.from_cfg(cfg).train()
    cfg.load_from = None
    config = osp.join(work_dir, 'tiny_ssm.py')
    cfg.dump(config)
    return config, osp.join(work_dir, 'epoch_1.pth')


# Public real chest CT beside the repository (not part of it: no licence allows
# redistribution); a user's clone has none, CI has it.
REALDATA = osp.normpath(osp.join(REPO_ROOT, '..', 'shared', 'realdata'))


@pytest.fixture(scope='session')
def covid_ct_md():
    """The COVID-CT-MD sample (three DICOM series, JPEG Lossless): its folder, or a skip
    that says where it is looked for and where it comes from."""
    folder = osp.join(REALDATA, 'covid_ct_md')
    if not osp.isdir(folder):
        pytest.skip(f'real data absent: {folder} (COVID-CT-MD sample series, GitHub '
                    'ShahinSHH/COVID-CT-MD; see docs/real_data.md)')
    return folder


@pytest.fixture(scope='session')
def covid_semiseg():
    """COVID-SemiSeg's labelled slices (Inf-Net's train / test split): its folder, or a
    skip that says where it is looked for and where it comes from."""
    folder = osp.join(REALDATA, 'covid_semiseg', 'Dataset')
    if not osp.isdir(folder):
        pytest.skip(f'real data absent: {folder} (COVID-SemiSeg, GitHub DengPingFan/Inf-Net; '
                    'see docs/real_data.md)')
    return folder


@pytest.fixture(scope='session')
def phantom_scans(tmp_path_factory):
    """Three whole-scan phantoms (COVID-19, CP, Normal; 12 slices of 128x128, 5 mm) by
    :func:`~mmdet_covid.datasets.phantom.write_scan`: ``{class: (scan folder, truth
    dict)}``."""
    from mmdet_covid.datasets.phantom import write_scan

    out = str(tmp_path_factory.mktemp('scans'))
    scans = {}
    for i, cls in enumerate(('COVID-19', 'CP', 'Normal')):
        name = f'scan_{i}'
        truth = write_scan(out, name, cls, n_slices=12, size=128, seed=3, scan_id=i)
        scans[cls] = (osp.join(out, name), truth)
    return scans


# Header values that would run or render as markup if a page did not escape them.
MARKUP_NAME = '<b>Doe</b><script>window.__pwned = 1</script>'
MARKUP_DESCRIPTION = '<img src=x onerror="window.__pwned = 2">chest'


@pytest.fixture
def markup_report(model_files, phantom_scans, tmp_path):
    """report.html of a phantom series whose PatientName and SeriesDescription hold
    markup, analysed with the tiny model keeping every detection: (report.html, the
    analysis)."""
    from mmdet_covid.apis import analyze_scan, init_ssm
    from mmdet_covid.scan.report import write_report

    folder, _ = phantom_scans['COVID-19']
    series = tmp_path / 'series'
    copy_series(osp.join(folder, 'dicom'), str(series), PatientName=MARKUP_NAME,
                SeriesDescription=MARKUP_DESCRIPTION)
    config, checkpoint = model_files
    model = init_ssm(config, checkpoint, cfg_options={'model.test_cfg.rcnn.score_thr': 0.0})
    analysis = analyze_scan(model, str(series), lesion_score_thr=0.0, min_lung_share=0.0)
    paths, errors = write_report(analysis, str(tmp_path / 'report'))
    assert not errors
    return paths['html'], analysis
