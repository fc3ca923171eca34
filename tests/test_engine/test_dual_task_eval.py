"""One test run reports both tasks; `mim test` works and refuses bad checkpoints."""
import os
import os.path as osp
import shutil
import sys

import mmdet
import pytest

from mmdet_covid.engine.runner import SSMRunner
from tests.conftest import REPO_ROOT, run_command

MIM = osp.join(osp.dirname(sys.executable), 'mim')


def test_test_run_reports_both_tasks(trained, tmp_path):
    from mmengine.config import Config
    config, checkpoint = trained
    cfg = Config.fromfile(config)
    cfg.work_dir, cfg.load_from = str(tmp_path), checkpoint
    cfg.experiment_name = 'dual_test'
    runner = SSMRunner.from_cfg(cfg)
    metrics = runner.test()
    for key in ('seg/segm_mAP', 'seg/segm_mAP_50', 'seg/segm_mAP_75', 'seg/bbox_mAP_50',
                'cls/accuracy', 'cls/f1_weighted', 'cls/f1_macro', 'cls/sensitivity_COVID-19',
                'cls/sensitivity_CP', 'cls/sensitivity_Normal'):
        assert key in metrics, key
    # the classification metric saved its confusion matrix in the run's log dir
    assert osp.exists(osp.join(runner.log_dir, 'cls_confusion_matrix.json'))
    assert osp.exists(osp.join(runner.log_dir, 'cls_confusion_matrix.png'))


def _mim_test(config, checkpoint, work_dir, *extra):
    return run_command(
        [MIM, 'test', 'mmdet', config, '--checkpoint', checkpoint, '--work-dir', work_dir,
         *extra])


def test_mim_test_out_holds_both_sets_for_mmdet_offline_tools(trained, tmp_path):
    import json
    import pickle

    from mmengine.config import Config

    config, checkpoint = trained
    out = str(tmp_path / 'results.pkl')
    proc = _mim_test(config, checkpoint, str(tmp_path), '--out', out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = proc.stdout + proc.stderr
    assert 'seg/segm_mAP' in printed and 'cls/f1_weighted' in printed
    cfg = Config.fromfile(config)
    parts = {}
    for name in ('lesion', 'cls'):
        with open(str(tmp_path / f'results_{name}.pkl'), 'rb') as f:
            parts[name] = pickle.load(f)
    with open(out, 'rb') as f:
        both = pickle.load(f)
    assert [s['img_path'] for s in both] == [s['img_path'] for s in
                                             parts['lesion'] + parts['cls']]
    evaluator = cfg.test_cfg.seg_evaluator
    with open(osp.join(evaluator.data_root, evaluator.ann_file)) as f:
        assert len(parts['lesion']) == len(json.load(f)['images'])
    assert all('pred_instances' in s and 'gt_label' not in s for s in parts['lesion'])
    assert all('pred_score' in s and 'gt_label' in s for s in parts['cls'])
    # mmdet's offline tools read the lesion part with a config whose test set is the
    # lesion set (here: the same config with its lesion test part in the stock slots)
    cfg.test_dataloader, cfg.test_evaluator = cfg.test_cfg.seg_dataloader, evaluator
    lesion_config = str(tmp_path / 'lesion_view.py')
    cfg.dump(lesion_config)
    tools = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'analysis_tools')
    proc = run_command(
        [sys.executable, osp.join(tools, 'confusion_matrix.py'), lesion_config,
         str(tmp_path / 'results_lesion.pkl'), str(tmp_path / 'cm'), '--score-thr', '0.01'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert osp.exists(tmp_path / 'cm' / 'confusion_matrix.png')


def test_tta_is_refused_with_the_reason(trained, tmp_path):
    config, checkpoint = trained
    proc = run_command(
        [sys.executable, osp.join(REPO_ROOT, 'tools', 'test.py'), config, checkpoint,
         '--work-dir', str(tmp_path), '--tta'])
    assert proc.returncode != 0
    assert 'test-time augmentation (--tta) is not supported for the SSM' in proc.stderr


@pytest.mark.parametrize('damage', ['missing', 'truncated'])
def test_mim_test_refuses_a_bad_checkpoint(trained, tmp_path, damage):
    config, checkpoint = trained
    bad = str(tmp_path / 'bad.pth')
    if damage == 'truncated':
        shutil.copy(checkpoint, bad)
        with open(bad, 'r+b') as f:
            f.truncate(os.path.getsize(bad) // 2)
    proc = _mim_test(config, bad, str(tmp_path / 'work'))
    assert proc.returncode != 0
    expected = 'does not exist' if damage == 'missing' else 'truncated or corrupt'
    assert expected in proc.stderr and 'bad.pth' in proc.stderr


def test_mim_test_show_dir_draws_every_slice_once(trained, tmp_path):
    """One drawing per test slice of both sets, at its path under its image
    folder: the CNCB frames of different scans (same file names) never clash."""
    import glob
    import json

    config, checkpoint = trained
    proc = run_command(
        [MIM, 'test', 'mmdet', config, '--checkpoint', checkpoint, '--work-dir',
         str(tmp_path), '--show-dir', 'shown'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    [shown] = glob.glob(osp.join(str(tmp_path), '*', 'shown'))
    drawn = sorted(osp.relpath(p, shown) for p in glob.glob(osp.join(shown, '**', '*.png'),
                                                            recursive=True))
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    evaluator = cfg.test_cfg.seg_evaluator
    with open(osp.join(evaluator.data_root, evaluator.ann_file)) as f:
        lesion_images = [img['file_name'] for img in json.load(f)['images']]
    lesion_drawn = [p for p in drawn if p.startswith('lesion' + osp.sep)]
    assert sorted(lesion_drawn) == sorted(osp.join('lesion', n) for n in lesion_images)
    cls_drawn = [p for p in drawn if p.startswith('cls' + osp.sep)]
    with open(osp.join(cfg.test_dataloader.dataset.data_root,
                       cfg.test_dataloader.dataset.ann_file)) as f:
        assert len(cls_drawn) == len(json.load(f)['data_list'])
    assert len(drawn) == len(lesion_drawn) + len(cls_drawn)


def test_drawing_names_keep_scans_apart(tmp_path):
    """CNCB frames of two scans share file names; their drawings do not."""
    from types import SimpleNamespace

    from mmdet_covid.engine.hooks import SSMVisualizationHook

    def loader(**prefix):
        return SimpleNamespace(dataset=SimpleNamespace(data_prefix=prefix))

    root = str(tmp_path)
    runner = SimpleNamespace(
        work_dir=root, timestamp='t', test_loop=SimpleNamespace(parts=[
            (loader(img=osp.join(root, 'seg/image/')), None),
            (loader(img_path=osp.join(root, 'cls/')), None)]))
    hook = SSMVisualizationHook(draw=True, test_out_dir='shown')
    hook.before_test(runner)
    names = [hook.output_name(osp.join(root, p)) for p in
             ('seg/image/scan_1/0000.png', 'seg/image/scan_2/0000.png', 'cls/0000.png')]
    assert names == [osp.join('lesion', 'scan_1', '0000.png'),
                     osp.join('lesion', 'scan_2', '0000.png'), osp.join('cls', '0000.png')]
    assert hook.output_name('/elsewhere/0000.png') == osp.join('other', 'elsewhere', '0000.png')
