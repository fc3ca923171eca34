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
torch.ones(64, 2 ** 20).sum()  # 256 MB, freed
faults = []
for _ in range(8):  # the same size again, 8 times
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(64, 2 ** 20).sum()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(*faults)
'''
PAGES = 64 * 2 ** 20 * 4 // 4096  # pages of one 256 MB block


def _faults(mode: str) -> list:
    proc = subprocess.run([sys.executable, '-c', SCRIPT, mode], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [int(n) for n in proc.stdout.split()[-8:]]


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc malloc settings')
def test_freed_block_is_reused_without_page_faults():
    """glibc's defaults map the block anew each time: every reallocation faults.
    With reuse, most do not. (On one machine, Linux 6.18 with multi-size
    transparent huge pages, about one reallocation in three still faulted every
    page anew, at random, with no munmap or madvise of the block in strace;
    the kernel, not malloc, took the pages back. Hence the best of 8.)"""
    assert min(_faults('defaults')) > PAGES // 2
    assert min(_faults('reuse')) < PAGES // 20
