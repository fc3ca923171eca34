"""SSMRunner: the data-root and image-size keys reach every dataset, from --cfg-options,
an inheriting config, mim train/test and the tools; a missing root names its key."""
import glob
import os
import os.path as osp
import sys

import pytest
from mmengine.config import Config

from mmdet_covid.engine.runner import DataRootError, apply_dataset_settings
from tests.conftest import CONFIG_DIR, REPO_ROOT, run_command

SSM = osp.join(CONFIG_DIR, 'ssm', 'ssm_r18-b3-aug_50e_cncb-covidx.py')


def _datasets(cfg):
    """(path, data_root, Resize scales) of every dataset and lesion metric the run uses."""
    found = []

    def visit(node, path):
        if isinstance(node, list):
            for i, item in enumerate(node):
                visit(item, f'{path}[{i}]')
        elif isinstance(node, dict):
            if node.get('type') in ('LesionSegDataset', 'CTSliceClsDataset', 'LesionCocoMetric'):
                scales = [s['scale'] for s in node.get('pipeline', []) if s['type'] == 'Resize']
                found.append((path, node['type'], node['data_root'], scales))
            for key, value in node.items():
                visit(value, f'{path}.{key}')

    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
                'test_cfg', 'val_evaluator', 'test_evaluator'):
        visit(cfg.get(key), key)
    return found


def test_cfg_options_reach_every_dataset_pipeline_and_metric(tmp_path):
    seg, cls = str(tmp_path / 'cncb') + '/', str(tmp_path / 'covidx') + '/'
    os.makedirs(seg), os.makedirs(cls)
    cfg = Config.fromfile(SSM)
    # what `--cfg-options seg_data_root=... cls_data_root=... cls_img_scale="(256,256)"` does
    cfg.merge_from_dict(dict(seg_data_root=seg, cls_data_root=cls, cls_img_scale=(256, 256)))
    assert cfg.train_dataloader.dataset.data_root == 'data/phantom/'  # resolved at load
    applied = apply_dataset_settings(cfg)
    found = _datasets(cfg)
    roles = {t: {(root, tuple(map(tuple, scales))) for _, t2, root, scales in found if t2 == t}
             for t in ('LesionSegDataset', 'CTSliceClsDataset', 'LesionCocoMetric')}
    assert roles == {'LesionSegDataset': {(seg, ((512, 512), ))},
                     'CTSliceClsDataset': {(cls, ((256, 256), ))},
                     'LesionCocoMetric': {(seg, ())}}
    paths = {p for p, *_ in found}
    assert {'train_cfg.seg_dataloader.dataset', 'test_cfg.seg_evaluator',
            'test_dataloader.dataset', 'val_dataloader.dataset'} <= paths
    assert f"seg_data_root = {seg!r}" in applied[0]


RUN_CONFIGS = sorted(osp.relpath(p, CONFIG_DIR) for p in glob.glob(
    osp.join(CONFIG_DIR, '*', '*.py')) if '_base_' not in p)


@pytest.mark.parametrize('config', RUN_CONFIGS)
def test_every_config_reads_its_data_from_the_root_keys(config, tmp_path):
    """A run's every dataset and lesion metric follows seg_data_root /
    cls_data_root (the phantom curve's second lesion metric once had a fixed
    ann_file and no data_root, and its run stopped at start)."""
    seg, cls = str(tmp_path / 'cncb') + '/', str(tmp_path / 'covidx') + '/'
    os.makedirs(seg), os.makedirs(cls)
    cfg = Config.fromfile(osp.join(CONFIG_DIR, config))
    cfg.merge_from_dict(dict(seg_data_root=seg, cls_data_root=cls))
    apply_dataset_settings(cfg)
    found = _datasets(cfg)
    assert found
    roots = {'LesionSegDataset': seg, 'LesionCocoMetric': seg, 'CTSliceClsDataset': cls}
    assert [(path, root) for path, kind, root, _ in found if root != roots[kind]] == []


def test_a_missing_data_root_names_the_key_to_set(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/phantom here
    cfg = Config.fromfile(SSM)
    with pytest.raises(DataRootError, match=r"(seg|cls)_data_root = 'data/phantom/' \(.*\) is "
                                            r'not a folder; .*--cfg-options (seg|cls)_data_root='):
        apply_dataset_settings(cfg)
    os.makedirs('data/phantom')
    apply_dataset_settings(cfg)  # the phantom's default, where it is


def _run(*args, cwd):
    return run_command(args, cwd=cwd)


def test_mim_train_test_and_an_inheriting_config_use_the_data_root(trained, tmp_path):
    """A config pointing at the phantom's default folder, run from a folder
    that has none: it fails naming the key, and works once the key is set on
    the command line or in an inheriting config."""
    config, checkpoint = trained
    data_root = Config.fromfile(config).seg_data_root
    stale = Config.fromfile(config)
    stale.seg_data_root = stale.cls_data_root = 'data/phantom/'
    apply_dataset_settings(stale, check_roots=False)
    stale_file = str(tmp_path / 'stale.py')
    stale.dump(stale_file)
    child = tmp_path / 'child.py'
    child.write_text(f"_base_ = './stale.py'\nseg_data_root = {data_root!r}\n"
                     f"cls_data_root = {data_root!r}\n")
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    roots = ['--cfg-options', f'seg_data_root={data_root}', f'cls_data_root={data_root}']

    proc = _run(mim, 'test', 'mmdet', stale_file, '--checkpoint', checkpoint, '--work-dir',
                'w1', cwd=tmp_path)
    assert proc.returncode != 0 and 'is not a folder' in proc.stderr
    assert '--cfg-options seg_data_root=' in proc.stderr

    proc = _run(mim, 'test', 'mmdet', stale_file, '--checkpoint', checkpoint, '--work-dir',
                'w2', *roots, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert 'cls/f1_weighted' in out and f'seg_data_root: {data_root.rstrip("/")}' in out

    proc = _run(sys.executable, osp.join(REPO_ROOT, 'tools', 'test.py'), str(child), checkpoint,
                '--work-dir', 'w3', cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'seg/segm_mAP' in proc.stdout + proc.stderr

    proc = _run(mim, 'train', 'mmdet', stale_file, '--work-dir', 'w4', *roots, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert osp.exists(tmp_path / 'w4' / 'epoch_1.pth')


@pytest.mark.parametrize('setting,calls', [(None, 1), (True, 1), (False, 0)])
def test_runner_reuses_freed_memory_unless_told_not_to(prepared_phantom, tmp_path,
                                                       monkeypatch, setting, calls):
    from mmdet_covid.engine.runner import SSMRunner, ssm_runner
    from tests.conftest import tiny_ssm_cfg

    called = []
    monkeypatch.setattr(ssm_runner, 'reuse_freed_memory', lambda: called.append(1))
    cfg = tiny_ssm_cfg(prepared_phantom, str(tmp_path))
    if setting is not None:
        cfg.env_cfg.reuse_freed_memory = setting
    SSMRunner.from_cfg(cfg)
    assert len(called) == calls


def test_the_ssm_loops_need_the_ssm_runner(prepared_phantom, tmp_path):
    """The loops read the run's checkpoint, resume and seeding from SSMRunner's public
    properties: a plain Runner is refused with the setting to change."""
    from mmengine.runner import Runner

    from tests.conftest import short_run_cfg

    cfg = short_run_cfg(prepared_phantom, str(tmp_path))
    with pytest.raises(TypeError, match=r"InterleavedTrainLoop runs under SSMRunner, got "
                                        r"Runner: set runner_type = 'mmdet.SSMRunner'"):
        Runner.from_cfg(cfg).train()


def test_the_runner_checks_what_it_loads(prepared_phantom, tmp_path):
    from mmdet_covid.engine.runner import SSMRunner
    from tests.conftest import short_run_cfg

    cfg = short_run_cfg(prepared_phantom, str(tmp_path / 'a'))
    cfg.load_from = str(tmp_path / 'missing.pth')
    runner = SSMRunner.from_cfg(cfg)
    assert runner.load_from == cfg.load_from and not runner.resuming
    assert runner.diff_rank_seed is False
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        runner.train()
    cfg = short_run_cfg(prepared_phantom, str(tmp_path / 'b'))
    cfg.resume = True  # nothing to resume in a new work dir
    with pytest.raises(FileNotFoundError, match='nothing to resume'):
        SSMRunner.from_cfg(cfg).train()
