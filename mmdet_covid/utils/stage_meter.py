"""StageMeter: the seconds and the peak resident memory of each stage of a run.

The scan analysis reports both per stage (read, lung mask, model, burden, writing): a
user whose scan is slow or whose machine runs out of memory sees where. The peak of a
stage is the process's high-water mark (``VmHWM`` of ``/proc/self/status``), reset at
the stage's start by writing ``5`` to ``/proc/self/clear_refs`` (Linux 4.0 and later).
Where the reset is refused, each stage's peak is the peak of the run so far
(``peaks_reset`` False); where there is no ``/proc``, no peak is recorded.
"""
import time
from contextlib import contextmanager
from typing import Dict, Iterator, Optional

STATUS = '/proc/self/status'
CLEAR_REFS = '/proc/self/clear_refs'


def peak_rss_mb() -> Optional[float]:
    """The process's peak resident memory (MiB) since the last reset, or None."""
    try:
        with open(STATUS) as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Start a new peak from the present resident memory; whether the system did."""
    try:
        with open(CLEAR_REFS, 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


class StageMeter:
    """Times stages and records their peak resident memory.

    Example::

        meter = StageMeter()
        with meter('read'):
            volume = read(...)
        meter.seconds['read'], meter.peak_rss_mb['read']

    A stage entered again adds its seconds and keeps the larger peak.
    """

    def __init__(self) -> None:
        self.seconds: Dict[str, float] = {}
        self.peak_rss_mb: Dict[str, float] = {}
        self.peaks_reset = True

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        self.peaks_reset &= reset_peak_rss()
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start
            peak = peak_rss_mb()
            if peak is not None:
                self.peak_rss_mb[stage] = max(self.peak_rss_mb.get(stage, 0.0), peak)
