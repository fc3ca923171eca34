"""SSMRunner: mmengine's Runner that points every SSM dataset at the config's data
roots and image sizes, whatever the config that set them.

MMEngine resolves a config's variables when it loads it: a base file's
``data_root = seg_data_root`` is a plain string by the time an inheriting config or
``--cfg-options seg_data_root=...`` changes the variable, so the change would never reach
the datasets (and a run would read ``data/phantom/`` instead, or fail there). The knobs
are therefore applied when the runner is built, from these top-level keys:

=================  ===========================================================
``seg_data_root``  ``data_root`` of every ``LesionSegDataset`` and lesion metric
                   (``LesionCocoMetric``, ``LesionDiceMetric``)
``cls_data_root``  ``data_root`` of every ``CTSliceClsDataset``
``seg_img_scale``  ``scale`` of the ``Resize`` steps of every lesion-set pipeline
``cls_img_scale``  ``scale`` of the ``Resize`` steps of every classification pipeline
=================  ===========================================================

A key the config does not have changes nothing (the datasets keep their own values).
A data root that a run uses and that is not a folder stops the build with an error that
names the key to set.
"""
import copy
import os.path as osp
from typing import Any, List, Optional, Tuple

from mmengine.config import Config
from mmengine.runner import Runner

from mmdet.registry import DATASETS, METRICS, RUNNERS
from ...datasets.ct_slice_cls_dataset import CTSliceClsDataset
from ...datasets.lesion_seg_dataset import LesionSegDataset
from ...evaluation.metrics.lesion_coco_metric import LesionCocoMetric
from ...evaluation.metrics.lesion_dice_metric import LesionDiceMetric
from ...utils import check_checkpoint_file, reuse_freed_memory
from .resume_guard import check_resume_source

ROLES = {
    'seg': dict(dataset=LesionSegDataset, root='seg_data_root', scale='seg_img_scale',
                what='the lesion set (CNCB-nCoV format)'),
    'cls': dict(dataset=CTSliceClsDataset, root='cls_data_root', scale='cls_img_scale',
                what='the classification set (COVIDx-CT format)'),
}
SEG_METRICS = (LesionCocoMetric, LesionDiceMetric)  # metrics that read the lesion set's files
# The parts of a config a runner builds; the rest are variables for other configs.
RUN_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg', 'val_cfg',
            'test_cfg', 'val_evaluator', 'test_evaluator')


class DataRootError(FileNotFoundError):
    """A data root that a run needs is not a folder (the message names the key)."""


def _subclass(registry, type_: Any, base: type) -> bool:
    if isinstance(type_, str):
        try:
            type_ = registry.get(type_)
        except KeyError:
            return False
    return isinstance(type_, type) and issubclass(type_, base)


def _role(node: dict) -> Tuple[Optional[str], str]:
    """(role, kind) of a config dict: a dataset or metric of the lesion or
    classification set, or (None, '')."""
    for role, spec in ROLES.items():
        if _subclass(DATASETS, node.get('type'), spec['dataset']):
            return role, 'dataset'
    if any(_subclass(METRICS, node.get('type'), metric) for metric in SEG_METRICS):
        return 'seg', 'metric'
    return None, ''


def apply_dataset_settings(cfg: Config, check_roots: bool = True) -> List[str]:
    """Apply the top-level data-root and image-size keys (module docstring) to every
    dataset, pipeline and lesion metric of ``cfg``, in place.

    Args:
        cfg: a loaded config (after ``--cfg-options`` were merged).
        check_roots: raise :class:`DataRootError` when a data root used by the
            run's dataloaders or evaluators is not a folder.

    Returns:
        One line per key applied, e.g. ``seg_data_root = /data/cncb/ (5 places)``.
    """
    counts = {key: 0 for spec in ROLES.values() for key in (spec['root'], spec['scale'])}
    used = set()

    def visit(node: Any, path: str, in_run: bool) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                visit(item, f'{path}[{i}]', in_run)
            return
        if not isinstance(node, dict):
            return
        role, kind = _role(node) if 'type' in node else (None, '')
        if role is not None:
            spec = ROLES[role]
            if spec['root'] in cfg and 'data_root' in node:
                node['data_root'] = cfg[spec['root']]
                counts[spec['root']] += 1
            if in_run:
                used.add((role, path, node.get('data_root')))
            if kind == 'dataset' and spec['scale'] in cfg:
                for step in node.get('pipeline') or ():
                    if isinstance(step, dict) and step.get('type') == 'Resize':
                        step['scale'] = tuple(cfg[spec['scale']])
                        counts[spec['scale']] += 1
        for key, value in node.items():
            if key != 'pipeline':  # nested pipelines (TTA) keep their own scales
                visit(value, f'{path}.{key}' if path else key, in_run)

    for key in list(cfg.keys()):
        visit(cfg[key], key, key in RUN_KEYS)
    if check_roots:
        for role, path, root in sorted(used, key=lambda u: u[1]):
            key = ROLES[role]['root']
            if root is None or not osp.isdir(root):
                source = f'{key} = {root!r}' if key in cfg else f'{path}.data_root = {root!r}'
                shown = f' ({osp.abspath(root)})' if isinstance(root, str) else ''
                raise DataRootError(
                    f'{source}{shown} is not a folder; {path} reads '
                    f'{ROLES[role]["what"]} from it. Set it: --cfg-options {key}=/path/to/data/ '
                    f'(mim train/test, tools/*.py) or `{key} = "/path/to/data/"` in a config '
                    'that inherits this one. The phantom: bash tools/prepare_phantom.sh '
                    'data/phantom')
    return [f'{key} = {cfg[key]!r} ({n} place{"s" * (n != 1)})'
            for key, n in counts.items() if n]


@RUNNERS.register_module()
class SSMRunner(Runner):
    """:class:`~mmengine.runner.Runner` built with the data roots and image sizes of
    the config's top-level keys applied (:func:`apply_dataset_settings`).

    Selected by ``runner_type = 'mmdet.SSMRunner'`` (the SSM's base runtime config):
    mmdet's ``tools/train.py`` and ``tools/test.py``, hence ``mim train/test``, build
    it from the config. The settings applied are logged with their absolute paths.

    Its environment set-up also makes the process reuse freed memory
    (:func:`~mmdet_covid.utils.reuse_freed_memory`: large tensors are not
    page-faulted in anew at every step); ``env_cfg.reuse_freed_memory=False``
    leaves glibc's defaults.

    It owns the checks of what it loads (:meth:`load_or_resume`) and tells the
    SSM's loops and hooks what they need to know of the run through public
    properties (:attr:`load_from`, :attr:`resuming`, :attr:`diff_rank_seed`), so
    that they read none of mmengine's private runner fields.
    """

    @property
    def load_from(self) -> Optional[str]:
        """The checkpoint the run loads or resumes from (``load_from``, ``--checkpoint``,
        ``--resume PATH``); None when none was given."""
        return None if self._load_from is None else str(self._load_from)

    @property
    def resuming(self) -> bool:
        """Whether the run resumes (``resume=True``, ``--resume``): model, optimiser,
        schedulers and iteration from the checkpoint."""
        return bool(self._resume)

    @property
    def diff_rank_seed(self) -> bool:
        """``randomness.diff_rank_seed``: whether each rank seeds its dataloaders with
        a different seed."""
        return bool(self._randomness_cfg.get('diff_rank_seed', False))

    def load_or_resume(self) -> None:
        """mmengine's, after two checks: ``--resume`` without a path must find a
        checkpoint to resume (:func:`~.resume_guard.check_resume_source`), and a given
        checkpoint must be a file that holds plain data only
        (:func:`~mmdet_covid.utils.check_checkpoint_file`), so that a bad path or file
        fails with an error that says what to do, before any weights are read."""
        check_resume_source(self)
        if self.load_from:
            check_checkpoint_file(self.load_from)
        super().load_or_resume()

    def setup_env(self, env_cfg: dict) -> None:
        super().setup_env(env_cfg)
        if env_cfg.get('reuse_freed_memory', True):
            reuse_freed_memory()

    @classmethod
    def from_cfg(cls, cfg: Config) -> 'SSMRunner':
        cfg = copy.deepcopy(cfg)
        applied = apply_dataset_settings(cfg)
        runner = super().from_cfg(cfg)
        for line in applied:
            runner.logger.info(f'dataset setting: {line}')
        for spec in ROLES.values():
            root = cfg.get(spec['root'])
            if isinstance(root, str):
                runner.logger.info(f'{spec["root"]}: {osp.abspath(root)}')
        return runner


def require_ssm_runner(runner, user: str) -> None:
    """Refuse a runner other than :class:`SSMRunner` for ``user`` (a loop of the SSM that
    reads the run's checkpoint, resume and seeding through its public properties)."""
    if not isinstance(runner, SSMRunner):
        raise TypeError(
            f"{user} runs under SSMRunner, got {type(runner).__name__}: set runner_type = "
            "'mmdet.SSMRunner' (the SSM's configs inherit it from "
            "configs/_base_/ssm_runtime.py) and build the runner with RUNNERS.build(cfg), "
            "as mmdet's tools/train.py and tools/test.py do, or SSMRunner.from_cfg(cfg)")
