"""Resume guards: nothing to resume, a garbage last_checkpoint, orphaned temp files."""
from types import SimpleNamespace

import pytest

from mmdet_covid.engine.runner.resume_guard import (check_resume_source,
                                                    remove_orphaned_temp_files)


def _runner(work_dir, resume=True, load_from=None):
    return SimpleNamespace(work_dir=str(work_dir), resuming=resume, load_from=load_from)


def test_nothing_to_resume_is_an_error_that_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing to resume.*--resume PATH'):
        check_resume_source(_runner(tmp_path))
    check_resume_source(_runner(tmp_path, resume=False))  # a fresh run: fine
    check_resume_source(_runner(tmp_path, load_from='x.pth'))  # an explicit path: mmengine's


@pytest.mark.parametrize('content', [b'', b'   \n', b'\xff\xfe\x00garbage',
                                     b'/no/such/epoch_3.pth'])
def test_garbage_last_checkpoint_is_named(tmp_path, content):
    (tmp_path / 'last_checkpoint').write_bytes(content)
    with pytest.raises(ValueError, match='last_checkpoint should hold the path'):
        check_resume_source(_runner(tmp_path))


def test_a_valid_last_checkpoint_passes(tmp_path):
    (tmp_path / 'epoch_1.pth').write_bytes(b'x')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_1.pth'))
    check_resume_source(_runner(tmp_path))


def test_orphaned_temporary_checkpoints_are_removed(tmp_path):
    (tmp_path / '.tmp-abc123epoch_2.pth').write_bytes(b'partial')
    (tmp_path / 'epoch_1.pth').write_bytes(b'kept')
    assert remove_orphaned_temp_files(str(tmp_path)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ['epoch_1.pth']
