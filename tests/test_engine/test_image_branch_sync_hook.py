from types import SimpleNamespace

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.logging import MessageHub

from mmdet_covid.engine import ImageBranchSyncHook
from tests.conftest import model_cfg


def _runner(**overrides):
    model = MODELS.build(model_cfg(**overrides))
    model.init_weights()
    return SimpleNamespace(model=model, iter=0, resuming=False,
                           message_hub=MessageHub.get_instance('test_sync_hook'))


def _perturb(head):
    with torch.no_grad():
        head.bbox_head.fc_cls.weight.add_(1.0)


def _synced(head):
    return torch.equal(head.bbox_head.fc_cls.weight, head.image_bbox_head.fc_cls.weight)


def _run(hook, runner, losses):
    copied = []
    for i, loss in enumerate(losses):
        runner.iter = i
        _perturb(runner.model.roi_head)
        outputs = None if loss is None else dict(seg_loss=torch.tensor(loss))
        hook.after_seg_step(runner, i, outputs=outputs)
        copied.append(_synced(runner.model.roi_head))
    return copied


def test_on_best_seg_loss_copies_on_new_minima_only():
    runner = _runner()
    hook = ImageBranchSyncHook('on_best_seg_loss')
    hook.before_train(runner)
    # None: the segmentation batch had no lesions and was skipped
    assert _run(hook, runner, [3.0, 2.0, 2.5, None, 1.0]) == [True, True, False, False, True]
    assert hook.num_copies == 3 and hook.best_seg_loss == 1.0
    assert runner.message_hub.get_scalar('train/image_branch_copies').current() == 3

    checkpoint = {}
    hook.before_save_checkpoint(runner, checkpoint)
    resumed = ImageBranchSyncHook('on_best_seg_loss')
    resumed.after_load_checkpoint(runner, checkpoint)
    assert (resumed.best_seg_loss, resumed.num_copies) == (1.0, 3)


def test_every_n_iters_and_never():
    runner = _runner()
    assert _run(ImageBranchSyncHook('every_n_iters', interval=2), runner,
                [5.0, 4.0, 3.0, 2.0]) == [False, True, False, True]
    assert _run(ImageBranchSyncHook('never'), runner, [5.0, 1.0]) == [False, False]


@pytest.mark.parametrize('resume', [False, True])
def test_training_starts_from_a_copy_of_the_loaded_branch(resume):
    """load_from (e.g. a segmentation warm-up) changes the segmentation
    branch after the model's own initial copy: the copy is renewed, unless
    the run resumes with the image branch of its checkpoint."""
    runner = _runner()
    runner.resuming = resume
    _perturb(runner.model.roi_head)  # what loading a checkpoint does
    ImageBranchSyncHook('never').before_train(runner)
    assert _synced(runner.model.roi_head) == (not resume)


def test_base_variant_disables_copying():
    runner = _runner(roi_head=dict(augmented=False))
    hook = ImageBranchSyncHook('on_best_seg_loss')
    hook.before_train(runner)
    assert hook.policy == 'never'


@pytest.mark.parametrize('kwargs,match', [
    (dict(policy='on_best'), 'policy must be one of'),
    (dict(policy='every_n_iters', interval=0), 'interval must be')])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ImageBranchSyncHook(**kwargs)
