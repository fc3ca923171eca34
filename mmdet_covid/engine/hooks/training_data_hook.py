"""TrainingDataHook: every checkpoint records what each task was trained on."""
import os.path as osp
from typing import Dict, Optional

from mmengine.hooks import Hook
from torch.utils.data import DataLoader

from mmdet.registry import HOOKS
from ...datasets.ct_slice_cls_dataset import CTSliceClsDataset
from ...datasets.data_source import read_data_source
from ...datasets.lesion_seg_dataset import LesionSegDataset
from ...utils.provenance import TRAINING_DATA_KEY, read_training_data

TASKS = (('seg', LesionSegDataset), ('cls', CTSliceClsDataset))


def _leaves(dataset) -> list:
    """The datasets inside mmengine's wrappers (Concat / Repeat / ClassBalanced)."""
    if hasattr(dataset, 'datasets'):
        return [leaf for inner in dataset.datasets for leaf in _leaves(inner)]
    if hasattr(dataset, 'dataset') and not hasattr(dataset, 'ann_file'):
        return _leaves(dataset.dataset)
    return [dataset]


def _model_width(dataset) -> Optional[int]:
    """The width in pixels that the pipeline resizes every slice to (a ``Resize`` that does
    not keep the ratio), or None."""
    for step in getattr(getattr(dataset, 'pipeline', None), 'transforms', ()):
        if type(step).__name__ == 'Resize' and not getattr(step, 'keep_ratio', True):
            scale = getattr(step, 'scale', None)
            if scale:
                return int(scale[0])
    return None


def describe_dataset(dataset) -> dict:
    """The training-data record of one dataset: its ``data_source`` (name, synthetic,
    field of view), the millimetres per model pixel where known, the annotation file
    and the number of samples."""
    ann_file = getattr(dataset, 'ann_file', None)
    source = read_data_source(ann_file) if ann_file else None
    width = _model_width(dataset)
    fov = (source or {}).get('fov_mm')
    return dict(
        name=(source or {}).get('name') or f'annotations {ann_file} (no data_source recorded)',
        synthetic=(source or {}).get('synthetic'), fov_mm=fov,
        model_pixel_mm=(fov / width) if fov and width else None,
        ann_file=osp.abspath(ann_file) if ann_file else None, samples=len(dataset))


@HOOKS.register_module()
class TrainingDataHook(Hook):
    """Write ``meta['training_data']`` into every checkpoint.

    For each task the run trains, ``seg`` (lesion set) and ``cls`` (classification set),
    the record of its dataset (:func:`describe_dataset`: name, synthetic or real, field
    of view and millimetres per model pixel, annotation file, samples; several datasets
    are joined); a task the run does not train keeps the record of the ``load_from``
    checkpoint it was initialised from (marked ``inherited_from``), or None. Also the
    config file and ``load_from``. The scan analysis, ``tools/infer.py`` and
    :class:`~mmdet_covid.apis.SSMInferencer` read it back
    (:func:`~mmdet_covid.utils.provenance.read_training_data`) and say in every output
    whether the model ever saw a real CT.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._record: Optional[dict] = None

    def _dataloaders(self, runner) -> list:
        loop = runner.train_loop
        return [v for v in vars(loop).values() if isinstance(v, DataLoader)]

    def _build_record(self, runner) -> dict:
        tasks: Dict[str, list] = {task: [] for task, _ in TASKS}
        for loader in self._dataloaders(runner):
            for leaf in _leaves(loader.dataset):
                for task, kind in TASKS:
                    if isinstance(leaf, kind):
                        tasks[task].append(describe_dataset(leaf))
        load_from = runner.cfg.get('load_from')
        inherited = read_training_data(load_from) if load_from and osp.isfile(
            load_from) else None
        record = dict(config=runner.cfg.filename, load_from=load_from)
        for task, found in tasks.items():
            if not found:
                previous = (inherited or {}).get(task)
                record[task] = dict(previous, inherited_from=load_from) if previous else None
                continue
            flags = [d['synthetic'] for d in found]
            pixels = {d['model_pixel_mm'] for d in found}
            record[task] = dict(
                name=' + '.join(d['name'] for d in found),
                synthetic=(True if all(f is True for f in flags) else
                           False if all(f is False for f in flags) else None),
                fov_mm=found[0]['fov_mm'] if len(found) == 1 else None,
                model_pixel_mm=pixels.pop() if len(pixels) == 1 else None,
                ann_file=[d['ann_file'] for d in found] if len(found) > 1 else
                found[0]['ann_file'],
                samples=sum(d['samples'] for d in found))
        return record

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._record is None:  # the datasets exist by the first save
            self._record = self._build_record(runner)
        checkpoint.setdefault('meta', {})[TRAINING_DATA_KEY] = self._record
