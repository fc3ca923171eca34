"""PatientClsMetric: the scan analysis' class rule, evaluated per patient."""
import logging
import os.path as osp
import re
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmdet.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from ...datasets.ct_slice_cls_dataset import COVIDX_CLASSES
from ...scan.aggregation import NORMAL, scan_class
from .cls_metric import ClsSensitivityF1, _to_numpy

# COVIDx-CT / CNCB slice names: {class prefix}_{patient}_{scan}_{slice}.png
PATIENT_NAME = re.compile(r'^(?P<prefix>[A-Za-z]+)_(?P<patient>[^_]+)_(?P<scan>[^_]+)_'
                          r'(?P<slice>\d+)\.\w+$')


def patient_key(img_path: str) -> Optional[str]:
    """``'<prefix>_<patient>'`` of a COVIDx-CT slice name, or None if it does not follow
    the pattern. Patient numbers restart in each source (``NCP_1`` and ``CP_1`` are two
    patients), so the prefix is part of the key."""
    match = PATIENT_NAME.match(osp.basename(img_path))
    return None if match is None else f"{match['prefix']}_{match['patient']}"


@METRICS.register_module()
class PatientClsMetric(BaseMetric):
    """Patient-level accuracy, sensitivity and F1 of the scan-level rule.

    The slices of the test split are grouped by patient (the file name's class prefix and
    patient number, :func:`patient_key`); each patient is classified by
    :func:`mmdet_covid.scan.scan_class` from its slices' class probabilities and best
    lesion scores (the same rule ``tools/analyze_scan.py`` applies to a scan), and the
    patients are scored by :meth:`ClsSensitivityF1.calculate`. A slice whose name does not
    follow the pattern is a patient of its own (counted in a warning). A patient's true
    class is its slices' diseased class if any slice is diseased, Normal otherwise;
    slices of two diseased classes in one patient are counted in a warning and the
    majority decides.

    Metrics (prefix ``patient``): ``accuracy`` and ``sensitivity_<class>`` in %,
    ``f1_weighted``, ``f1_macro``, ``patients``, ``slices_per_patient``.

    Args:
        lesion_score_thr (float): :func:`scan_class`'s threshold (default: the paper's
            0.75).
        min_lesion_slices (int): :func:`scan_class`'s count.
        classes (Sequence[str]): class names when the dataset declares none.
    """

    default_prefix: Optional[str] = 'patient'
    class_names = ClsSensitivityF1.class_names  # the dataset's classes, else ``classes``

    def __init__(self, lesion_score_thr: float = 0.75, min_lesion_slices: int = 1,
                 classes: Sequence[str] = COVIDX_CLASSES, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.lesion_score_thr = lesion_score_thr
        self.min_lesion_slices = min_lesion_slices
        self.classes = tuple(classes)

    def process(self, data_batch: object, data_samples: Sequence[dict]) -> None:
        for i, sample in enumerate(data_samples):
            missing = [k for k in ('gt_label', 'pred_score', 'pred_instances', 'img_path')
                       if k not in sample]
            if missing:
                raise KeyError(f'{type(self).__name__}: data sample {i} of the batch has no '
                               f'{", ".join(missing)}; it has {sorted(sample)}. This metric '
                               'needs classification slices (gt_label, img_path) and an '
                               'SSM output (pred_score and the lesions, pred_instances)')
            scores = _to_numpy(sample['pred_instances']['scores']).reshape(-1)
            self.results.append(dict(
                name=osp.basename(sample['img_path']),
                pred_score=_to_numpy(sample['pred_score']).astype(np.float64).reshape(-1),
                gt_label=int(_to_numpy(sample['gt_label']).reshape(-1)[0]),
                top=float(scores.max()) if scores.size else 0.0))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        classes = self.class_names
        groups: Dict[str, List[dict]] = defaultdict(list)
        unnamed = 0
        for r in results:
            key = patient_key(r['name'])
            if key is None:
                unnamed += 1
                key = r['name']
            groups[key].append(r)
        mixed = 0
        probs, labels = [], []
        for key in sorted(groups):
            rows = groups[key]
            gts = [r['gt_label'] for r in rows]
            diseased = [g for g in gts if g != NORMAL]
            if len(set(diseased)) > 1:
                mixed += 1
            labels.append(max(set(diseased), key=diseased.count) if diseased else NORMAL)
            decision = scan_class(np.stack([r['pred_score'] for r in rows]),
                                  np.array([r['top'] for r in rows]), self.lesion_score_thr,
                                  self.min_lesion_slices, classes)
            p = np.zeros(len(classes))
            p[decision['label']] = 1.0  # the decision, not the mean probabilities
            probs.append(p)
        if unnamed:
            print_log(f'{type(self).__name__}: {unnamed} slice name(s) do not follow '
                      '<class>_<patient>_<scan>_<slice>.png; each is counted as a patient of '
                      'its own', logger='current', level=logging.WARNING)
        if mixed:
            print_log(f'{type(self).__name__}: {mixed} patient(s) have slices of two diseased '
                      'classes; the majority gives their class', logger='current',
                      level=logging.WARNING)
        stats = ClsSensitivityF1.calculate(np.stack(probs), np.array(labels), len(classes))
        metrics = dict(accuracy=stats['accuracy'] * 100, f1_weighted=stats['f1_weighted'],
                       f1_macro=stats['f1_macro'], patients=len(groups),
                       slices_per_patient=len(results) / len(groups))
        for c, name in enumerate(classes):
            metrics[f'sensitivity_{name}'] = stats['sensitivity'][c] * 100
        return {k: float(v) for k, v in metrics.items()}
