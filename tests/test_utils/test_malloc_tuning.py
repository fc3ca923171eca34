"""reuse_freed_memory: a large block freed and allocated again is not page-faulted
in anew (measured in a fresh process: the setting is process-wide and final)."""
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

SCRIPT = '''
import resource, sys
import torch
from mmdet_covid.utils import reuse_freed_memory
if sys.argv[1] == 'reuse':
    assert reuse_freed_memory() and reuse_freed_memory()  # once; later calls say so too
torch.zeros(64, 2 ** 20).sum()  # 256 MB, freed
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
torch.zeros(64, 2 ** 20).sum()  # the same size again
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
'''
PAGES = 64 * 2 ** 20 * 4 // 4096  # pages of one 256 MB block


def _faults(mode: str) -> int:
    proc = subprocess.run([sys.executable, '-c', SCRIPT, mode], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return int(proc.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc malloc settings')
def test_freed_block_is_reused_without_page_faults():
    assert _faults('defaults') > PAGES // 2  # glibc maps the block anew: faults again
    assert _faults('reuse') < PAGES // 20
