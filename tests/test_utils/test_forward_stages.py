"""mmdet_covid.utils.forward_stages: every stage of the SSM's forward is timed, inclusive
of the stages it calls, per slice."""
from collections import defaultdict

import pytest
import torch

from mmdet_covid.utils.forward_stages import STAGES, instrument, stage_seconds
from tests.conftest import seg_batch, untrained_ssm


def test_every_stage_runs_once_per_forward_and_includes_the_stages_it_calls():
    model = untrained_ssm()
    times, running, calls = defaultdict(float), [], []

    class Around:  # records which stages are running when each one starts
        def __init__(self, label):
            self.label = label

        def __enter__(self):
            calls.append((self.label, tuple(running)))
            running.append(self.label)

        def __exit__(self, *exc):
            running.pop()

    instrument(model, times, around=Around)
    with torch.no_grad():
        model.test_step(seg_batch(2))
    assert sorted(label for label, _ in calls) == sorted(label for label, _, _ in STAGES)
    whole = STAGES[0][0]
    for label, enclosing in calls:
        assert times[label] > 0
        assert (enclosing == ()) == (label == whole) and enclosing[:1] in ((), (whole, ))
        assert all(times[outer] >= times[label] for outer in enclosing), label


def test_stage_seconds_are_medians_per_slice_in_the_table_order(monkeypatch):
    model = untrained_ssm()
    seconds = stage_seconds(model, seg_batch(2), batch_size=2, repeats=3)
    assert list(seconds) == [label for label, _, _ in STAGES]
    assert all(s > 0 for s in seconds.values())
    whole = seconds[STAGES[0][0]]
    top = [s for (label, _, _), s in zip(STAGES, seconds.values()) if label.startswith('  ')
           and not label.startswith('    ')]
    assert sum(top) <= whole * 1.05  # medians of parts of one forward: no more than it
    with pytest.raises(AttributeError):
        instrument(torch.nn.Linear(1, 1), defaultdict(float))  # not an SSM: no stages
