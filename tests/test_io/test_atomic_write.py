"""Atomic writes: strict JSON, the previous file kept on failure, the usual file mode."""
import json
import os

import pytest

from mmdet_covid.io.atomic_write import atomic_write_json


def test_atomic_json_is_strict_and_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / 'ann.json'
    atomic_write_json({'a': [1, None]}, target, indent=1)
    assert json.loads(target.read_text()) == {'a': [1, None]}
    for bad in ({'a': float('nan')}, {'a': object()}):  # refused before the file is touched
        with pytest.raises((ValueError, TypeError)):
            atomic_write_json(bad, target)
        assert json.loads(target.read_text()) == {'a': [1, None]}
    assert os.listdir(tmp_path) == ['ann.json']


def test_atomic_writes_get_the_mode_a_plain_open_gives(tmp_path):
    umask = os.umask(0o022)
    try:
        atomic_write_json({'a': 1}, tmp_path / 'report.json')
    finally:
        os.umask(umask)
    # mkstemp's temporary file is 0600: others could not read a report written through it
    assert (tmp_path / 'report.json').stat().st_mode & 0o777 == 0o644
