"""mmengine checkpoints resume under torch's weights_only=True default, and a
crafted checkpoint cannot run code through the plugin's allow-list."""
import os.path as osp
import pickle
import struct
import subprocess
import sys
import zipfile

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import mmdet_covid  # noqa: F401  (applies the allow-list)
from tests.conftest import run_command


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


# -- crafted checkpoints, written opcode by opcode -------------------------------
def _str(text: str) -> bytes:
    data = text.encode()
    return b'X' + struct.pack('<I', len(data)) + data  # BINUNICODE


def _global(module: str, name: str) -> bytes:
    return b'c' + module.encode() + b'\n' + name.encode() + b'\n'  # GLOBAL


_HISTORY_BUFFER = _global('mmengine.logging.history_buffer', 'HistoryBuffer')
_GETATTR = _global('builtins', 'getattr')
# eval = getattr(getattr(getattr, '__self__'), 'eval'): builtins.eval from
# nothing but the name `getattr` (TUPLE2 = \x86, REDUCE = R).
_EVAL = _GETATTR + _GETATTR + _GETATTR + _str('__self__') + b'\x86R' + _str('eval') + b'\x86R'


def _touch(marker: str) -> bytes:
    return _str(f"__import__('pathlib').Path({marker!r}).touch()")


def _payloads(marker: str) -> dict:
    """Pickled objects that use only the names mmengine's checkpoints use."""
    new_buffer = _HISTORY_BUFFER + b')\x81'  # HistoryBuffer.__new__ (EMPTY_TUPLE, NEWOBJ)
    return {
        # BUILD 1 stores eval as the instance's __setstate__; BUILD 2 calls it.
        'getattr_to_eval': new_buffer + b'}' + _str('__setstate__') + _EVAL + b'sb'
                           + _touch(marker) + b'b',
        # The class-wide statistics table of HistoryBuffer made to hold eval.
        'statistics_table': new_buffer + b'}' + _str('statistics_methods') + b'}'
                            + _str('mean') + _EVAL + b'ssb',
        # The same with a callable that is allow-listed for other purposes.
        'statistics_table_dtype': new_buffer + b'}' + _str('statistics_methods') + b'}'
                                  + _str('mean') + _global('numpy', 'dtype') + b'ssb',
        # Without getattr: a HistoryBuffer whose state names a __setstate__.
        'setstate_key': new_buffer + b'}' + _str('__setstate__') + _HISTORY_BUFFER
                        + b'sb',
    }


def write_crafted_checkpoint(path: str, payload: bytes) -> str:
    """A torch zip checkpoint whose data.pkl is ``{'state_dict': {}, 'meta':
    {}, 'message_hub': payload}``."""
    pickled = (b'\x80\x02}' + _str('state_dict') + b'}s' + _str('meta') + b'}s'
               + _str('message_hub') + payload + b's.')
    torch.save({'state_dict': {}}, path)
    with zipfile.ZipFile(path) as src:
        entries = [(info, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as dst:
        for info, data in entries:
            dst.writestr(info, pickled if info.filename.endswith('/data.pkl') else data)
    return path


@pytest.fixture
def crafted(tmp_path):
    marker = str(tmp_path / 'MARKER')
    return write_crafted_checkpoint(str(tmp_path / 'evil.pth'),
                                    _payloads(marker)['getattr_to_eval']), marker


def test_the_crafted_checkpoint_runs_code_under_a_naive_allow_list(crafted):
    """The attack is real: allow-listing getattr and HistoryBuffer as such (what
    this package did before) lets the file run code."""
    path, marker = crafted
    code = ('import torch; from mmengine.logging import HistoryBuffer; '
            'torch.serialization.add_safe_globals([HistoryBuffer, getattr]); '
            f'torch.load({path!r})')
    subprocess.run([sys.executable, '-c', code], capture_output=True, timeout=120)
    assert osp.exists(marker)


@pytest.mark.parametrize('kind', ['getattr_to_eval', 'statistics_table',
                                  'statistics_table_dtype', 'setstate_key'])
def test_crafted_checkpoints_are_refused(tmp_path, kind):
    from mmengine.logging import HistoryBuffer
    from mmengine.runner import load_checkpoint

    marker = str(tmp_path / 'MARKER')
    path = write_crafted_checkpoint(str(tmp_path / 'evil.pth'), _payloads(marker)[kind])
    HistoryBuffer()  # fills in the default statistics methods
    table = dict(HistoryBuffer._statistics_methods)
    with pytest.raises(pickle.UnpicklingError, match='refusing to load a checkpoint'):
        torch.load(path)
    with pytest.raises(pickle.UnpicklingError, match='refusing to load a checkpoint'):
        load_checkpoint(ToyModel(), path)
    assert not osp.exists(marker)
    assert HistoryBuffer._statistics_methods == table


def test_history_buffers_round_trip_as_real_history_buffers(checkpoint):
    from mmengine.logging import HistoryBuffer

    hub = torch.load(checkpoint)['message_hub']
    buffer = hub['log_scalars']['train/loss']
    assert type(buffer) is HistoryBuffer and len(buffer.data[0]) == 2
    assert buffer.mean() == pytest.approx(buffer.data[0].mean())
    assert buffer.statistics('max') == buffer.data[0].max()


@pytest.mark.parametrize('path', ['tools/test.py', 'mim test', 'tools/infer.py',
                                  'tools/train.py --resume', 'tools/train.py load_from',
                                  'init_detector'])
def test_every_loading_path_refuses_the_crafted_checkpoint(crafted, tiny_config, tmp_path,
                                                           path):
    evil, marker = crafted
    work = str(tmp_path / 'work')
    image = str(tmp_path / 'slice.png')
    import cv2
    import numpy as np
    cv2.imwrite(image, np.full((64, 64), 90, np.uint8))
    py = [sys.executable]
    commands = {
        'tools/test.py': py + ['tools/test.py', tiny_config, evil, '--work-dir', work],
        'mim test': [osp.join(osp.dirname(sys.executable), 'mim'), 'test', 'mmdet',
                     tiny_config, '--checkpoint', evil, '--work-dir', work],
        'tools/infer.py': py + ['tools/infer.py', tiny_config, evil, image],
        'tools/train.py --resume': py + ['tools/train.py', tiny_config, '--resume', evil,
                                         '--work-dir', work],
        'tools/train.py load_from': py + ['tools/train.py', tiny_config, '--work-dir', work,
                                          '--cfg-options', f'load_from={evil}'],
        'init_detector': py + ['-c', 'from mmdet.apis import init_detector; '
                               f'init_detector({tiny_config!r}, {evil!r})'],
    }
    proc = run_command(commands[path])
    assert proc.returncode != 0
    assert 'refusing to load a checkpoint' in proc.stderr, proc.stderr[-2000:]
    assert not osp.exists(marker)
