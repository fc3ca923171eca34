"""ProgressBarHook: one bar for the training run (from the resumed iteration, with the
latest losses), one per validation or test run, none off the main process."""
from types import SimpleNamespace

import torch

from mmdet_covid.engine.hooks import ProgressBarHook, progress_bar_hook


def _runner(max_iters: int = 5, resumed_at: int = 2) -> SimpleNamespace:
    """What the hook reads of a runner: the dual-task validation loop reads two parts
    (3 lesion batches, 4 classification batches), the test loop one dataloader."""
    return SimpleNamespace(max_iters=max_iters, iter=resumed_at,
                           val_loop=SimpleNamespace(parts=[(range(3), None), (range(4), None)]),
                           test_loop=SimpleNamespace(dataloader=range(6)))


def test_training_bar_with_a_validation_run_in_between(capsys):
    hook, runner = ProgressBarHook(keys=('seg_loss', 'slice_loss')), _runner()
    hook.before_train(runner)
    bar = hook._bar
    assert (bar.n, bar.total, bar.desc) == (2, 5, 'train')  # resumed at iteration 2
    hook.after_train_iter(runner, 0, outputs=dict(seg_loss=torch.tensor(0.51234), acc=90.0))
    assert bar.n == 3 and bar.postfix == 'seg_loss=0.512'  # only the keys asked for
    hook.before_val_epoch(runner)
    val = hook._bar
    assert val is not bar and (val.n, val.total, val.desc) == (0, 7, 'val')  # both parts
    for i in range(7):
        hook.after_val_iter(runner, i)
    assert val.n == 7 and bar.n == 3
    hook.after_val_epoch(runner)
    assert hook._bar is bar  # the training bar goes on
    hook.after_train_iter(runner, 1, outputs=dict(slice_loss=0.25))
    hook.after_train_iter(runner, 2, outputs=None)  # counted, the postfix kept
    assert bar.n == 5 and bar.postfix == 'slice_loss=0.250'
    hook.after_train(runner)
    assert hook._bar is None
    err = capsys.readouterr().err
    assert 'val: 100%' in err and '7/7' in err
    assert 'train: 100%' in err and '5/5' in err and 'slice_loss=0.250' in err


def test_test_bar_counts_the_test_loops_batches(capsys):
    hook, runner = ProgressBarHook(), _runner()
    hook.before_test_epoch(runner)
    bar = hook._bar
    assert (bar.n, bar.total, bar.desc) == (0, 6, 'test')
    for i in range(6):
        hook.after_test_iter(runner, i, outputs=[object()])  # predictions: no postfix
    assert bar.n == 6 and not bar.postfix
    hook.after_test_epoch(runner)
    assert hook._bar is None and 'test: 100%' in capsys.readouterr().err


def test_only_the_main_process_draws(monkeypatch, capsys):
    monkeypatch.setattr(progress_bar_hook, 'is_main_process', lambda: False)
    hook, runner = ProgressBarHook(), _runner()
    hook.before_train(runner)
    hook.after_train_iter(runner, 0, outputs=dict(seg_loss=1.0))
    hook.before_val_epoch(runner)
    hook.after_val_iter(runner, 0)
    hook.after_val_epoch(runner)
    hook.after_train(runner)
    assert hook._bar is None and capsys.readouterr().err == ''
