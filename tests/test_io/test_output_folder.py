"""An output folder written whole or not at all (staged_folder, check_output_folder)."""
import os

import pytest

from mmdet_covid.io import output_folder
from mmdet_covid.io.output_folder import OutputFolderError, check_output_folder, staged_folder


def _write(folder, name, text):
    with open(os.path.join(folder, name), 'w') as f:
        f.write(text)


def test_a_new_folder_appears_whole_and_nothing_is_left_beside_it(tmp_path):
    with staged_folder(str(tmp_path / 'out')) as staged:
        _write(staged, 'a.txt', 'new')
        assert not (tmp_path / 'out').exists()  # not before the block ends
    assert os.listdir(tmp_path) == ['out'] and (tmp_path / 'out' / 'a.txt').read_text() == 'new'


def test_a_failed_swap_puts_the_previous_report_back(tmp_path, monkeypatch):
    out = tmp_path / 'out'
    os.makedirs(out)
    _write(out, 'old.txt', 'previous report')
    real_replace = os.replace
    calls = []

    def failing_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # moving the staged folder into place fails
            raise OSError('disk error')
        real_replace(src, dst)

    monkeypatch.setattr(output_folder.os, 'replace', failing_second)
    with pytest.raises(OSError, match='disk error'):
        with staged_folder(str(out), overwrite=True) as staged:
            _write(staged, 'new.txt', 'new report')
    assert sorted(os.listdir(tmp_path)) == ['out']  # no staged or old folder left
    assert os.listdir(out) == ['old.txt']


def test_links_and_files_are_refused(tmp_path):
    os.makedirs(tmp_path / 'real')
    os.symlink(tmp_path / 'real', tmp_path / 'link')
    with pytest.raises(OutputFolderError, match='a symbolic link'):
        check_output_folder(str(tmp_path / 'link'))
    (tmp_path / 'file').write_text('x')
    with pytest.raises(OutputFolderError, match='a file, not a folder'):
        check_output_folder(str(tmp_path / 'file'))


def test_a_folder_that_cannot_be_written_is_refused(tmp_path):
    os.makedirs(tmp_path / 'locked')
    os.chmod(tmp_path / 'locked', 0o500)
    try:
        if os.access(tmp_path / 'locked', os.W_OK):  # root writes anywhere
            pytest.skip('this user can write into a read-only folder')
        with pytest.raises(OutputFolderError, match='cannot create folders in'):
            check_output_folder(str(tmp_path / 'locked' / 'new' / 'report'))
    finally:
        os.chmod(tmp_path / 'locked', 0o700)
