"""Atomic checkpoint writes, the frozen-parameter optimiser, checkpoint checks."""
import os

import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.optim import build_optim_wrapper
from torch import nn

from mmdet_covid.utils import check_checkpoint_file


def test_atomic_backend_never_leaves_a_partial_file(tmp_path, monkeypatch):
    backend = get_file_backend(str(tmp_path / 'x.pth'), backend_args=dict(backend='atomic_local'))
    target = tmp_path / 'sub' / 'epoch_1.pth'
    backend.put(b'old checkpoint', str(target))
    assert target.read_bytes() == b'old checkpoint'

    def crash(*args):  # the process dies while writing the new one
        raise KeyboardInterrupt

    monkeypatch.setattr(os, 'replace', crash)
    with pytest.raises(KeyboardInterrupt):
        backend.put(b'new checkpoint' * 1000, str(target))
    assert target.read_bytes() == b'old checkpoint'
    assert os.listdir(target.parent) == ['epoch_1.pth']  # no temporary left behind


def test_frozen_parameters_never_enter_the_optimiser():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    model[1].requires_grad_(False)
    wrapper = build_optim_wrapper(model, dict(
        constructor='TrainableParamsOptimWrapperConstructor',
        optimizer=dict(type='Adam', lr=0.1, weight_decay=0.1)))
    params = [p for g in wrapper.optimizer.param_groups for p in g['params']]
    assert len(params) == 2 and all(p.requires_grad for p in params)


def test_checkpoint_file_check(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.ones(3)}}, good)
    check_checkpoint_file(str(good))
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        check_checkpoint_file(str(tmp_path / 'missing.pth'))
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(ValueError, match='truncated or corrupt'):
        check_checkpoint_file(str(truncated))
