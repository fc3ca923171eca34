"""mmengine checkpoints resume under torch's weights_only=True default."""
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import mmdet_covid  # noqa: F401  (applies the allow-list)


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        pred = self.linear(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=((pred.squeeze(1) - torch.stack(labels)) ** 2).mean())
        return pred


class ToyDataset(Dataset):
    metainfo = dict(classes=('a', ))

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([float(i), 1.0]), labels=torch.tensor(float(i % 2)))


def _runner(work_dir, max_iters=4, **kwargs):
    return Runner(
        model=ToyModel(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=ToyDataset(), batch_size=2,
                              sampler=dict(type='DefaultSampler', shuffle=True)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=0.01)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmengine', randomness=dict(seed=0), **kwargs)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('run')
    _runner(work_dir, max_iters=2).train()
    path = osp.join(work_dir, 'iter_2.pth')
    assert osp.exists(path)
    return path


def test_checkpoint_needs_the_allow_list(checkpoint):
    # A fresh interpreter without the plugin hits torch's refusal: the trap
    # this module exists for.
    code = f'import torch; torch.load({checkpoint!r}, weights_only=True)'
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode != 0 and 'weights_only' in proc.stderr
    ckpt = torch.load(checkpoint, weights_only=True)
    assert ckpt['meta']['iter'] == 2 and 'message_hub' in ckpt


def test_runner_resumes(checkpoint, tmp_path):
    runner = _runner(tmp_path, resume=True, load_from=checkpoint)
    runner.train()
    assert runner.iter == 4
    assert osp.exists(osp.join(tmp_path, 'iter_4.pth'))


class Payload:
    def __reduce__(self):
        return (print, ('arbitrary code ran',))


def test_arbitrary_pickled_object_is_still_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': {'x': Payload()}}, path)
    with pytest.raises(pickle.UnpicklingError, match='weights_only'):
        torch.load(path, weights_only=True)
    from mmengine.runner import load_checkpoint
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(ToyModel(), str(path))
