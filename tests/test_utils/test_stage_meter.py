"""StageMeter: seconds and the peak resident memory of each stage."""
import json
import os.path as osp
import subprocess
import sys
import time

import pytest

from mmdet_covid.utils.stage_meter import STATUS, StageMeter
from tests.conftest import REPO_ROOT


def test_seconds_add_up_per_stage():
    meter = StageMeter()
    for _ in range(2):
        with meter('sleep'):
            time.sleep(0.05)
    with meter('none'):
        pass
    assert 0.1 <= meter.seconds['sleep'] < 1.0
    assert meter.seconds['none'] < meter.seconds['sleep']
    with pytest.raises(KeyError):  # a stage that fails is still timed
        with meter('fails'):
            raise KeyError('x')
    assert 'fails' in meter.seconds


@pytest.mark.skipif(not osp.exists(STATUS), reason='no /proc/self/status on this system')
def test_each_stage_has_its_own_peak():
    """In a fresh interpreter (glibc's malloc defaults: a large block freed goes back to
    the system): 300 MiB allocated in one stage raise its peak, not the next stage's."""
    script = (
        'import json, numpy as np\n'
        'from mmdet_covid.utils.stage_meter import StageMeter, peak_rss_mb\n'
        'meter = StageMeter()\n'
        'with meter("before"): pass\n'
        'with meter("large"):\n'
        '    block = np.ones(300 * 2 ** 20 // 8); block.sum(); del block\n'
        'with meter("after"): np.ones(1000).sum()\n'
        'print(json.dumps(dict(meter.peak_rss_mb, reset=meter.peaks_reset)))\n')
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                         check=True, cwd=REPO_ROOT)
    peaks = json.loads(out.stdout.strip().splitlines()[-1])
    assert peaks['large'] - peaks['before'] >= 290
    if peaks['reset']:  # where the system resets peaks (Linux 4.0 and later)
        assert peaks['after'] < peaks['large'] - 250
    else:
        assert peaks['after'] >= peaks['large']
