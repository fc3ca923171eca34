"""Validation and test loops that evaluate both tasks of the SSM in one run."""
import logging
import os.path as osp
from typing import Dict, List, Optional, Tuple, Union

import mmengine
from mmengine.dist import is_main_process
from mmengine.evaluator import DumpResults, Evaluator
from mmengine.model import BaseTTAModel
from mmengine.logging import print_log
from mmengine.runner import TestLoop, ValLoop
from mmdet.registry import LOOPS
from torch.utils.data import DataLoader

from ...utils import check_checkpoint_matches
from .ssm_runner import require_ssm_runner


class _PartsLoader:
    """The dataloaders of the parts as one: the lesion part, then the
    classification part (the stock slot's). ``index`` is the part being read."""

    def __init__(self, parts: List[Tuple[DataLoader, Evaluator]]) -> None:
        self.parts = parts
        self.index = len(parts) - 1

    def __iter__(self):
        for self.index, (loader, _) in enumerate(self.parts):
            yield from loader

    def __len__(self) -> int:
        return sum(len(loader) for loader, _ in self.parts)

    @property
    def dataset(self):
        """The stock slot's dataset (its metainfo is the loop's)."""
        return self.parts[-1][0].dataset


class _PartsEvaluator:
    """Feeds each part's evaluator the batches of its part; ``evaluate``
    returns the metrics of every part, one dict (prefixes keep them apart)."""

    def __init__(self, loader: _PartsLoader) -> None:
        self.loader = loader

    @property
    def metrics(self) -> list:
        """The stock slot's metrics (where mmdet's ``test.py --out`` appends)."""
        return self.loader.parts[-1][1].metrics

    @property
    def dataset_meta(self):
        return self.loader.parts[-1][1].dataset_meta

    def process(self, data_samples, data_batch=None) -> None:
        self.loader.parts[self.loader.index][1].process(data_samples, data_batch)

    def evaluate(self, size: int) -> Dict[str, float]:
        """``size`` is ignored: each part is evaluated with its dataset's."""
        metrics: Dict[str, float] = {}
        for loader, evaluator in self.loader.parts:
            part = evaluator.evaluate(len(loader.dataset))
            clash = sorted(set(part) & set(metrics))
            if clash:
                raise KeyError(f'DualTask loops: both tasks report {clash}; give their '
                               'metrics different prefixes')
            metrics.update(part)
        return metrics


class _DualTaskEvaluation:
    """Shared by both loops: the segmentation part beside the stock one.

    The stock ``dataloader``/``evaluator`` of the loop are the classification
    ones; ``seg_dataloader``/``seg_evaluator`` add the segmentation test set
    (e.g. ``CocoMetric`` with ``prefix='seg'``). The loop's ``dataloader``
    then reads the lesion part then the classification part, and its
    ``evaluator`` feeds each part's evaluator its batches: mmengine's own
    ``run()`` runs both, with one ``before_*``/``after_*_epoch`` pair of
    hooks and one dict of metrics whose keys carry each metric's prefix
    (``seg/...``, ``cls/...``), so ``save_best`` can use any of them.

    ``--out results.pkl`` (mmdet's ``tools/test.py`` adds a ``DumpDetResults``
    metric to the classification evaluator) writes the predictions of both
    sets: ``results.pkl`` holds the lesion test set's samples then the
    classification split's, and ``results_lesion.pkl`` / ``results_cls.pkl``
    each set alone, in its dataset's order, as mmdet's offline tools
    (``eval_metric.py``, ``confusion_matrix.py``, ``analyze_results.py``) read
    them with a config whose ``test_dataloader`` is that set.
    """

    def _init_seg_part(self, runner, seg_dataloader, seg_evaluator) -> None:
        self.parts: List[Tuple[DataLoader, Evaluator]] = []
        if seg_dataloader is not None:
            if seg_evaluator is None:
                raise ValueError(f'{type(self).__name__}: seg_dataloader is set '
                                 f'but seg_evaluator is not')
            if isinstance(seg_dataloader, dict):
                seg_dataloader = runner.build_dataloader(seg_dataloader, seed=runner.seed)
            if isinstance(seg_evaluator, (dict, list)):
                seg_evaluator = runner.build_evaluator(seg_evaluator)
            seg_evaluator.dataset_meta = getattr(seg_dataloader.dataset, 'metainfo', None)
            self.parts.append((seg_dataloader, seg_evaluator))
        self.parts.append((self.dataloader, self.evaluator))
        for _, evaluator in self.parts:  # metrics that save files write to the log dir
            for metric in evaluator.metrics:
                if getattr(metric, 'out_dir', 'absent') is None:
                    metric.out_dir = runner.log_dir
        if len(self.parts) > 1:
            self.dataloader = _PartsLoader(self.parts)
            self.evaluator = _PartsEvaluator(self.dataloader)

    def _split_dumps(self) -> List[Tuple[DumpResults, List[str]]]:
        """Move each DumpResults metric of the classification evaluator into
        one per part (``<stem>_lesion.pkl``, ``<stem>_cls.pkl``); returns
        (the metric, its part files) to join after the evaluation."""
        if len(self.parts) < 2:
            return []
        joins = []
        for metric in [m for m in self.evaluator.metrics if isinstance(m, DumpResults)]:
            self.evaluator.metrics.remove(metric)
            stem, ext = osp.splitext(metric.out_file_path)
            files = []
            for (_, evaluator), name in zip(self.parts, ('lesion', 'cls')):
                part = type(metric)(out_file_path=f'{stem}_{name}{ext}')
                part.dataset_meta = evaluator.dataset_meta
                evaluator.metrics.append(part)
                files.append(part.out_file_path)
            joins.append((metric, files))
        return joins

    def _join_dumps(self, joins, write: bool) -> None:
        for metric, files in joins:
            for _, evaluator in self.parts:
                evaluator.metrics[:] = [m for m in evaluator.metrics
                                        if getattr(m, 'out_file_path', None) not in files]
            self.evaluator.metrics.append(metric)
            if write and is_main_process():
                samples = [s for f in files for s in mmengine.load(f)]
                mmengine.dump(samples, metric.out_file_path)
                print_log(f'predictions of both sets written to {metric.out_file_path} '
                          f'({", ".join(files)}: each set alone)', logger='current')

    def _run_writing_dumps(self, run) -> dict:
        joins = self._split_dumps()
        done = False
        try:
            metrics = run()
            done = True
        finally:
            self._join_dumps(joins, write=done)
        return metrics


@LOOPS.register_module()
class DualTaskValLoop(_DualTaskEvaluation, ValLoop):
    """:class:`ValLoop` over the classification set and the lesion set.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader or dict): Classification dataloader.
        evaluator (Evaluator or dict or list): Classification metrics.
        seg_dataloader (DataLoader or dict, optional): Segmentation dataloader.
        seg_evaluator (Evaluator or dict or list, optional): Its metrics.
        fp16 (bool): Whether to run in fp16. Defaults to False.
    """

    def __init__(self, runner, dataloader: Union[DataLoader, Dict],
                 evaluator: Union[Evaluator, Dict, List],
                 seg_dataloader: Optional[Union[DataLoader, Dict]] = None,
                 seg_evaluator: Optional[Union[Evaluator, Dict, List]] = None,
                 fp16: bool = False) -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        self._init_seg_part(runner, seg_dataloader, seg_evaluator)


@LOOPS.register_module()
class DualTaskTestLoop(_DualTaskEvaluation, TestLoop):
    """:class:`TestLoop` over the classification set and the lesion set.

    Args: as :class:`DualTaskValLoop`.
    """

    def __init__(self, runner, dataloader: Union[DataLoader, Dict],
                 evaluator: Union[Evaluator, Dict, List],
                 seg_dataloader: Optional[Union[DataLoader, Dict]] = None,
                 seg_evaluator: Optional[Union[Evaluator, Dict, List]] = None,
                 fp16: bool = False) -> None:
        require_ssm_runner(runner, type(self).__name__)
        if not runner.load_from:  # (SSMRunner.load_or_resume checks a given file)
            print_log('DualTaskTestLoop: no checkpoint given (load_from / '
                      '--checkpoint): testing untrained weights',
                      logger='current', level=logging.WARNING)
        super().__init__(runner, dataloader, evaluator, fp16)
        self._init_seg_part(runner, seg_dataloader, seg_evaluator)

    def run(self) -> dict:
        model = self.runner.model
        if isinstance(getattr(model, 'module', model), BaseTTAModel) or isinstance(
                model, BaseTTAModel):
            raise RuntimeError(
                f'{type(self).__name__}: test-time augmentation (--tta) is not supported '
                'for the SSM: mmdet\'s DetTTAModel merges the boxes of the augmented '
                'views only, so the lesion masks (stock Mask R-CNN has no mask TTA '
                'either) and the slice class would be lost. Test without --tta.')
        # mmengine loads non-strictly: refuse weights of another variant
        # instead of testing a partly random model.
        if self.runner.load_from:
            check_checkpoint_matches(self.runner.model, self.runner.load_from)
        return self._run_writing_dumps(super().run)
