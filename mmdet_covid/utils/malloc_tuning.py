"""Keep freed memory for reuse instead of handing it back to the system (glibc)."""
import ctypes
import ctypes.util
import platform

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4

_applied = False


def reuse_freed_memory(trim_threshold: int = -1) -> bool:
    """Make glibc's malloc serve large blocks from its heap and keep its freed
    heap for reuse (up to ``trim_threshold`` bytes of it; -1, the default:
    all of it, never trimmed).

    By default glibc maps every block above 128 KB-32 MB to fresh pages and
    unmaps it when freed, so each large tensor of a forward pass (feature
    maps, RoI features, masks) is page-faulted in anew on every pass. This
    is what the jemalloc or tcmalloc preload that PyTorch's CPU tuning guide
    recommends buys, without a preload. The cost: the process keeps its peak
    heap (resident memory falls later, or never; the peak itself is
    unchanged).

    A bound on the kept heap comes back as page faults once a pass frees
    more than it: inference on batches of 8 slices frees over 1 GB at the
    top of the heap at the end of each pass, malloc hands it back above the
    bound, and the next pass faults it in anew. Timings of both are in
    docs/benchmarks.md.

    Args:
        trim_threshold (int): glibc's ``M_TRIM_THRESHOLD``: freed memory at
            the top of the heap beyond this many bytes goes back to the
            system; -1 never (mallopt's value for that). At most 2**31 - 1.

    Applies once per process; later calls do nothing. Returns whether the
    settings are in force (False where the C library is not glibc).
    """
    if not (trim_threshold == -1 or 0 <= trim_threshold < 2**31):
        raise ValueError(f'reuse_freed_memory: trim_threshold must be -1 (never trim) or '
                         f'0..2**31-1 bytes (mallopt takes an int), got {trim_threshold!r}')
    global _applied
    if _applied:
        return True
    if platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc':
        return False
    libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    _applied = bool(libc.mallopt(M_MMAP_MAX, 0)) and \
        bool(libc.mallopt(M_TRIM_THRESHOLD, int(trim_threshold)))
    return _applied
