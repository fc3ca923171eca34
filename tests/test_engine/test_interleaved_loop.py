"""The interleaved training loop on real (tiny) runs over a 128x128 phantom."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mmdet_covid.engine.runner import SSMRunner
from tests.conftest import REPO_ROOT, short_run_cfg
from tests.test_engine.hooks_for_tests import Killed


def make_cfg(data_root, work_dir, num_cls=3, epochs=1, ckpt_every=None, hooks=()):
    cfg = short_run_cfg(data_root, str(work_dir), num_cls=num_cls, epochs=epochs)
    if ckpt_every:
        cfg.default_hooks.checkpoint.update(by_epoch=False, interval=ckpt_every)
    cfg.optim_wrapper.optimizer.lr = 1e-4
    cfg.custom_imports = dict(imports=['mmdet_covid', 'tests.test_engine.hooks_for_tests'],
                              allow_failed_imports=False)
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h.type != 'ImageBranchSyncHook'] + [
        dict(type='ImageBranchSyncHook', policy='every_n_iters', interval=2), *hooks]
    return cfg


def final_state(work_dir, name):
    return torch.load(osp.join(work_dir, name), map_location='cpu')['state_dict']


def test_one_log_line_holds_both_steps(prepared_phantom, tmp_path):
    runner = SSMRunner.from_cfg(make_cfg(prepared_phantom, tmp_path))
    runner.train()
    scalars = runner.message_hub.log_scalars
    for key in ('seg_loss', 'seg_loss_rpn_cls', 'seg_loss_rpn_bbox', 'seg_loss_cls',
                'seg_loss_bbox', 'seg_loss_mask', 'slice_loss', 'slice_acc', 'seg_skipped',
                'image_branch_copies'):
        assert f'train/{key}' in scalars, key
    assert runner.iter == 3 and runner.epoch == 1
    assert scalars['train/image_branch_copies'].current() == 1  # at iteration 2
    log = open(osp.join(tmp_path, runner.timestamp, f'{runner.timestamp}.log')).read()
    assert 'seg_loss_mask' in log and 'slice_loss' in log
    line = [line for line in log.splitlines() if 'Epoch(train) [1][2/3]' in line][0]
    assert 'seg_loss:' in line and 'slice_loss:' in line


def test_image_branch_copy_between_the_steps(prepared_phantom, tmp_path):
    """The copy is made after the segmentation step and read by the same
    iteration's classification step (the reference's order)."""
    cfg = make_cfg(prepared_phantom, tmp_path, hooks=[dict(type='BranchProbeHook')])
    runner = SSMRunner.from_cfg(cfg)
    runner.train()
    probe = [h for h in runner.hooks if type(h).__name__ == 'BranchProbeHook'][0]
    assert [e[:2] for e in probe.events] == [
        ('after_seg_step', 0), ('after_train_iter', 0), ('after_seg_step', 1),
        ('after_train_iter', 1), ('after_seg_step', 2), ('after_train_iter', 2)]
    # every_n_iters=2 copies in iteration 1 only; a segmentation step ran in
    # iterations 0 and 2 (the phantom's training scans all have lesions)
    assert all(e[2] for e in probe.events if e[0] == 'after_seg_step')
    assert probe.cls_reads_copy == [False, True, False]


def test_resume_is_exact(prepared_phantom, tmp_path):
    """Kill a run mid-epoch, resume it: same weights as an uninterrupted run."""
    common = dict(num_cls=3, epochs=2, ckpt_every=2)
    SSMRunner.from_cfg(make_cfg(prepared_phantom, tmp_path / 'full', **common)).train()

    killed = make_cfg(prepared_phantom, tmp_path / 'killed', **common,
                      hooks=[dict(type='KillAtIterHook', at=4)])
    with pytest.raises(Killed):
        SSMRunner.from_cfg(killed).train()
    assert osp.exists(tmp_path / 'killed' / 'iter_4.pth')  # mid-epoch 2 (iterations 4-6)

    resumed = make_cfg(prepared_phantom, tmp_path / 'killed', **common)
    resumed.resume = True
    resumed.load_from = str(tmp_path / 'killed' / 'iter_4.pth')
    runner = SSMRunner.from_cfg(resumed)
    runner.train()
    assert (runner.iter, runner.epoch) == (6, 2)

    full, res = final_state(tmp_path / 'full', 'iter_6.pth'), final_state(
        tmp_path / 'killed', 'iter_6.pth')
    assert full.keys() == res.keys()
    diff = [k for k in full if not torch.equal(full[k], res[k])]
    assert not diff, f'{len(diff)} tensors differ, e.g. {diff[:3]}'


def test_nan_loss_stops_with_the_iteration_named(prepared_phantom, tmp_path):
    cfg = make_cfg(prepared_phantom, tmp_path, num_cls=3, ckpt_every=1,
                   hooks=[dict(type='PoisonAtIterHook', at=2)])
    with pytest.raises(FloatingPointError) as err:
        SSMRunner.from_cfg(cfg).train()
    message = str(err.value)
    assert 'iteration 2' in message and 'slice_loss=nan' in message
    assert 'iter_1.pth' in message  # the last good checkpoint is named
    assert osp.exists(tmp_path / 'iter_1.pth') and not osp.exists(tmp_path / 'iter_2.pth')


def test_wrong_dataset_in_a_slot(prepared_phantom, tmp_path):
    cfg = make_cfg(prepared_phantom, tmp_path)
    cfg.train_dataloader.dataset = cfg.train_cfg.seg_dataloader.dataset
    with pytest.raises(TypeError, match='train_dataloader must be a classification dataset'):
        SSMRunner.from_cfg(cfg).train()
    cfg = make_cfg(prepared_phantom, tmp_path)
    cfg.train_cfg.seg_dataloader.dataset = cfg.train_dataloader.dataset
    with pytest.raises(TypeError, match='train_cfg.seg_dataloader must be a segmentation'):
        SSMRunner.from_cfg(cfg).train()


def test_missing_data_root_is_named(prepared_phantom, tmp_path):
    cfg = make_cfg(prepared_phantom, tmp_path)
    cfg.cls_data_root = str(tmp_path / 'no_such_root') + '/'  # the key users set
    with pytest.raises(FileNotFoundError, match='cls_data_root.*no_such_root'):
        SSMRunner.from_cfg(cfg).train()


def test_two_processes_end_with_identical_weights(prepared_phantom, tmp_path):
    """tools/dist_train.sh with 2 CPU processes (gloo).

    Parameters stay equal through DDP; the BatchNorm statistics, which each
    rank computes on its own data, are averaged by SyncBuffersHook.
    """
    cfg = make_cfg(prepared_phantom, tmp_path, num_cls=4,
                   hooks=[dict(type='DumpRankWeightsHook')])
    config = str(tmp_path / 'dist_cfg.py')
    cfg.dump(config)
    env = dict(os.environ, PYTHON=sys.executable, PORT='29611', OMP_NUM_THREADS='1')
    proc = subprocess.run(['bash', 'tools/dist_train.sh', config, '2'], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f'rank{r}.pth') for r in (0, 1))
    assert rank0.keys() == rank1.keys()
    diff = [k for k in rank0 if not torch.equal(rank0[k], rank1[k])]
    assert not diff, diff
    assert 'Epoch(train) [1][2/2]' in proc.stdout + proc.stderr  # 4 images / 2 ranks


def test_resume_without_a_checkpoint_says_so(prepared_phantom, tmp_path):
    cfg = make_cfg(prepared_phantom, tmp_path)
    cfg.resume = True
    with pytest.raises(FileNotFoundError, match='nothing to resume'):
        SSMRunner.from_cfg(cfg).train()


def test_max_iters_stops_mid_epoch_and_saves(prepared_phantom, tmp_path):
    cfg = make_cfg(prepared_phantom, tmp_path, num_cls=3, epochs=2)
    cfg.train_cfg.max_iters = 2
    runner = SSMRunner.from_cfg(cfg)
    runner.train()
    assert (runner.iter, runner.epoch, runner.max_iters) == (2, 1, 2)
    assert osp.exists(tmp_path / 'epoch_1.pth') and not osp.exists(tmp_path / 'epoch_2.pth')


def test_classes_without_training_samples_are_named(prepared_phantom, tmp_path, capsys):
    cfg = make_cfg(prepared_phantom, tmp_path, num_cls=2)  # the file lists Normal first
    SSMRunner.from_cfg(cfg).train()
    printed = capsys.readouterr()
    assert "has no sample of ['CP', 'COVID-19']" in printed.out + printed.err
