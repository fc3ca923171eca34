"""reuse_freed_memory: a large block freed and allocated again is not page-faulted
in anew (measured in a fresh process: the setting is process-wide and final)."""
import platform
import subprocess
import sys

import pytest

from mmdet_covid.utils import malloc_tuning, reuse_freed_memory
from tests.conftest import REPO_ROOT

# The settings exist in glibc's malloc only (not on macOS, Windows or musl Linux).
needs_glibc = pytest.mark.skipif(
    platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc',
    reason="glibc's malloc settings (this C library is not glibc)")

SCRIPT = '''
import resource, sys
import torch
from mmdet_covid.utils import reuse_freed_memory
mode, rows, times = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if mode == 'reuse':
    assert reuse_freed_memory() and reuse_freed_memory()  # once; later calls say so too
torch.ones(rows, 2 ** 20).sum()  # rows * 4 MB, freed
faults = []
for _ in range(times):  # the same size again
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(rows, 2 ** 20).sum()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(*faults)
'''
PAGES = 64 * 2 ** 20 * 4 // 4096  # pages of one 256 MB block


def _faults(mode: str, rows: int = 64, times: int = 8) -> list:
    proc = subprocess.run([sys.executable, '-c', SCRIPT, mode, str(rows), str(times)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [int(n) for n in proc.stdout.split()[-times:]]


@pytest.mark.slow  # fresh processes that allocate blocks of 256 MB to 1.5 GB
@needs_glibc
def test_freed_block_is_reused_without_page_faults():
    """glibc's defaults map the block anew each time: every reallocation faults.
    With reuse, most do not. (Now and then one reallocation faults every page anew:
    strace shows the heap grown by the block's size at that point, so malloc placed
    the new block above the freed one rather than in it; the layout settles after.
    Hence the best of 8.)"""
    assert min(_faults('defaults')) > PAGES // 2
    assert min(_faults('reuse')) < PAGES // 20


KEPT_SCRIPT = '''
import ctypes, ctypes.util, os, sys
from mmdet_covid.utils import reuse_freed_memory
assert reuse_freed_memory(*map(int, sys.argv[1:]))
libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
statm = os.open('/proc/self/statm', os.O_RDONLY)
size = 3 << 29  # 1.5 GB, malloc'd and freed with nothing allocated between
for _ in range(3):
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)  # every page faulted in
    before = int(os.pread(statm, 200, 0).split()[1])  # resident pages
    libc.free(block)
    print(before - int(os.pread(statm, 200, 0).split()[1]))  # pages handed back
'''
BLOCK_PAGES = (3 << 29) // 4096


def _handed_back(*args: str) -> list:
    proc = subprocess.run([sys.executable, '-c', KEPT_SCRIPT, *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [int(n) for n in proc.stdout.split()]


@pytest.mark.slow  # fresh processes that allocate blocks of 256 MB to 1.5 GB
@needs_glibc
def test_a_freed_block_over_1_gb_stays_for_reuse():
    """No bound on the kept heap by default: a pass that frees more than 1 GB at once
    (inference on batches of 8 slices) keeps it for the next. A bound (here the former
    default, 1 GB) hands such a block back on every free, to be faulted in anew."""
    assert max(_handed_back()) < BLOCK_PAGES // 20
    assert min(_handed_back(str(1 << 30))) > BLOCK_PAGES * 9 // 10


def test_bad_trim_threshold_is_named():
    with pytest.raises(ValueError, match=r'trim_threshold must be -1 \(never trim\) or '
                                         r'0..2\*\*31-1 bytes .* got 4294967296'):
        reuse_freed_memory(2 ** 32)


def test_another_c_library_is_left_alone(monkeypatch):
    """Off glibc nothing is set (mallopt is glibc's): the call says so, and does
    not open the C library."""
    monkeypatch.setattr(malloc_tuning.ctypes, 'CDLL', None)
    for system, libc in (('Linux', ('musl', '1.2')), ('Darwin', ('glibc', '2.35'))):
        monkeypatch.setattr(malloc_tuning, '_applied', False)
        monkeypatch.setattr(malloc_tuning.platform, 'system', lambda system=system: system)
        monkeypatch.setattr(malloc_tuning.platform, 'libc_ver', lambda libc=libc: libc)
        assert reuse_freed_memory() is False and malloc_tuning._applied is False
