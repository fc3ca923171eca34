"""ClsSensitivityF1: the slice-classification metrics of the paper (Table IV)."""
import logging
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmdet.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.utils import mkdir_or_exist

from ...datasets.ct_slice_cls_dataset import COVIDX_CLASSES
from ...io.atomic_write import atomic_write_json

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence]

CM_JSON = 'cls_confusion_matrix.json'
CM_PNG = 'cls_confusion_matrix.png'


def _to_numpy(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` elementwise, 0.0 where ``den == 0`` (sklearn's zero_division=0)."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` (ascending), tied values sharing their mean rank."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    # a group of `k` equal values occupying ranks e-k+1 .. e has mean rank e - (k-1)/2
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse.reshape(-1)]


def binary_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC of one binary problem by the Mann-Whitney U statistic.

    ``AUC = (R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg)`` with ``R_pos``
    the sum of the positives' ranks among all scores. Tied scores get their
    mean rank, so a positive/negative pair with equal scores counts 1/2:
    the area under the ROC curve drawn with diagonal steps through ties
    (sklearn's ``roc_auc_score``).

    Args:
        scores (np.ndarray): ``(N, )`` scores, higher means more positive.
        positive (np.ndarray): ``(N, )`` bool, the positive samples.

    Returns:
        float: The AUC in [0, 1]; nan when there are no positives or no
        negatives (the ROC curve is undefined).
    """
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float('nan')
    rank_sum = _average_ranks(scores)[positive].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


@METRICS.register_module()
class ClsSensitivityF1(BaseMetric):
    """Per-class sensitivity, accuracy, F1 and ROC AUC of the slice class.

    Reads ``pred_score`` (class probabilities) and ``gt_label`` of each data
    sample, as :class:`DualTaskDetector` and :class:`SliceClassifier` write
    them. The predicted class is ``argmax(pred_score)`` (the first class on
    a tie), which is how both models set ``pred_label``.

    Metrics (``compute_metrics``; with the default prefix the keys read
    ``cls/accuracy``, ``cls/f1_weighted``, ...):

    - ``accuracy``, ``sensitivity_<class>`` (recall), ``precision_<class>``:
      percent, as mmpretrain reports them;
    - ``f1_weighted`` (the paper's "class-adjusted F1": per-class F1
      averaged with the class supports as weights), ``f1_macro``,
      ``auc_<class>`` (one-vs-rest ROC AUC), ``auc_macro``: in [0, 1], as
      in the paper's tables.

    Edge cases (the conventions of sklearn with ``labels=range(C)`` and
    ``zero_division=0``, except the first):

    - a class with no ground-truth samples has sensitivity nan (undefined:
      0.0 would read as "every case missed"), and ``compute_metrics`` logs
      a warning naming it; the run's JSON files hold ``null`` for it
      (:class:`~mmdet_covid.engine.hooks.StrictJsonLoggerHook`,
      :class:`~mmdet_covid.visualization.SSMVisualizer`);
    - a class never predicted has precision 0.0; F1 = 2 TP / (2 TP + FP +
      FN) is 0.0 when that denominator is 0;
    - ``f1_macro`` is the plain mean over all C classes, those with zero
      support included (they count 0.0); ``f1_weighted`` gives them no
      weight;
    - ``auc_<class>`` is nan when the class has no positives or no
      negatives; ``auc_macro`` is the mean of the defined ones (nan if none).

    When ``out_dir`` is set, ``compute_metrics`` also writes the confusion
    matrix (rows: ground truth, columns: prediction) to
    ``out_dir/cls_confusion_matrix.json`` and ``.png``. mmengine runs
    ``compute_metrics`` on rank 0 only (``BaseMetric.evaluate``), so only
    rank 0 writes.

    Args:
        classes (Sequence[str]): Class names in label order, used when the
            dataset gives no ``dataset_meta['classes']``. Defaults to the
            classification dataset's, ``COVIDX_CLASSES``.
        out_dir (str, optional): Where to write the confusion matrix files.
            Defaults to None (write nothing).
        collect_device (str): ``'cpu'`` or ``'gpu'``, to gather the results
            of all ranks. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to
            ``'cls'``.
        collect_dir (str, optional): Directory to gather results through
            when ``collect_device='cpu'``. Defaults to None.
    """

    default_prefix: Optional[str] = 'cls'

    def __init__(self,
                 classes: Sequence[str] = COVIDX_CLASSES,
                 out_dir: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        self.classes = tuple(classes)
        self.out_dir = out_dir

    @property
    def class_names(self) -> tuple:
        """The dataset's ``classes`` when it declares them, else the constructor's."""
        if self.dataset_meta and self.dataset_meta.get('classes'):
            return tuple(self.dataset_meta['classes'])
        return self.classes

    def process(self, data_batch: object, data_samples: Sequence[dict]) -> None:
        """Keep the class probabilities and the label of each sample.

        Args:
            data_batch (object): Unused.
            data_samples (Sequence[dict]): The model's outputs as dicts
                (``DetDataSample.to_dict()``), each with ``pred_score``
                ``(C, )`` and ``gt_label`` ``(1, )``.

        Raises:
            KeyError: if a sample lacks ``pred_score`` or ``gt_label``
                (a segmentation sample fed to the classification metric).
        """
        for i, sample in enumerate(data_samples):
            for key in ('gt_label', 'pred_score'):
                if key not in sample:
                    raise KeyError(
                        f'{type(self).__name__}: data sample {i} of the batch '
                        f'({sample.get("img_path", "no img_path")}) has no '
                        f'{key!r}; it has {sorted(sample)}. This metric needs '
                        f'classification samples (gt_label) and a classifier '
                        f'output (pred_score); was a segmentation sample or '
                        f'dataloader given to it?')
            # numpy, not tensors: small and cheap to pickle when
            # collect_results gathers the ranks' lists
            self.results.append(dict(
                pred_score=_to_numpy(sample['pred_score']).astype(np.float32).reshape(-1),
                gt_label=int(_to_numpy(sample['gt_label']).reshape(-1)[0])))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Scalar metrics of all samples; writes the confusion matrix files.

        Args:
            results (list[dict]): What ``process`` stored, gathered from
                every rank.

        Returns:
            dict[str, float]: See the class docstring for names and units.
        """
        classes = self.class_names
        if not results:
            raise ValueError(f'{type(self).__name__}: no samples to evaluate')
        pred_scores = np.stack([r['pred_score'] for r in results])
        gt_labels = np.array([r['gt_label'] for r in results])
        stats = self.calculate(pred_scores, gt_labels, len(classes))
        absent = [name for name, n in zip(classes, stats['support']) if n == 0]
        if absent:
            print_log(f'{type(self).__name__}: no sample of class(es) {", ".join(absent)} in '
                      f'the {len(results)} evaluated; their sensitivity is undefined (nan, '
                      'null in JSON) and so is their AUC', logger='current',
                      level=logging.WARNING)

        metrics = dict(accuracy=stats['accuracy'] * 100,
                       f1_weighted=stats['f1_weighted'],
                       f1_macro=stats['f1_macro'])
        for c, name in enumerate(classes):
            metrics[f'sensitivity_{name}'] = stats['sensitivity'][c] * 100
            metrics[f'precision_{name}'] = stats['precision'][c] * 100
        for c, name in enumerate(classes):
            metrics[f'auc_{name}'] = stats['auc'][c]
        metrics['auc_macro'] = stats['auc_macro']
        metrics = {k: float(v) for k, v in metrics.items()}

        if self.out_dir:
            self.save_confusion_matrix(stats['confusion_matrix'], classes, self.out_dir)
        return metrics

    @staticmethod
    def calculate(pred_scores: ArrayLike, gt_labels: ArrayLike,
                  num_classes: int) -> Dict[str, Union[float, np.ndarray]]:
        """All the maths, from scores and labels.

        Args:
            pred_scores (np.ndarray | Tensor): ``(N, C)`` class scores
                (probabilities); the prediction is the row's argmax.
            gt_labels (np.ndarray | Tensor): ``(N, )`` labels in ``[0, C)``.
            num_classes (int): ``C``.

        Returns:
            dict: fractions in [0, 1], edge cases as in the class docstring:

            - ``confusion_matrix``: ``(C, C)`` int64, ``[gt, pred]`` counts;
            - ``support``: ``(C, )`` int64, samples per ground-truth class;
            - ``sensitivity``, ``precision``, ``f1``, ``auc``: ``(C, )``
              (sensitivity and AUC nan for a class without samples);
            - ``accuracy``, ``f1_weighted``, ``f1_macro``, ``auc_macro``:
              floats.
        """
        scores = _to_numpy(pred_scores).astype(np.float64)
        labels = _to_numpy(gt_labels).reshape(-1).astype(np.int64)
        if scores.ndim != 2 or scores.shape[1] != num_classes:
            raise ValueError(f'pred_scores must have shape (N, {num_classes}) '
                             f'(one score per class), got {scores.shape}')
        if scores.shape[0] != labels.size:
            raise ValueError(f'{scores.shape[0]} score rows but {labels.size} gt_labels')
        if labels.size == 0:
            raise ValueError('no samples to evaluate')
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f'gt_labels must lie in [0, {num_classes}), got values '
                             f'{sorted(set(labels.tolist()) - set(range(num_classes)))}')

        preds = scores.argmax(axis=1)
        cm = np.bincount(labels * num_classes + preds,
                         minlength=num_classes**2).reshape(num_classes, num_classes)
        tp = np.diag(cm)
        support = cm.sum(axis=1)
        predicted = cm.sum(axis=0)
        f1 = _safe_div(2 * tp, support + predicted)  # = 2TP / (2TP + FP + FN)
        auc = np.array([binary_auc(scores[:, c], labels == c) for c in range(num_classes)])
        defined = ~np.isnan(auc)
        return dict(
            confusion_matrix=cm,
            support=support,
            sensitivity=np.where(support > 0, _safe_div(tp, support), np.nan),
            precision=_safe_div(tp, predicted),
            f1=f1,
            auc=auc,
            accuracy=float(tp.sum() / labels.size),
            f1_weighted=float((f1 * support).sum() / labels.size),
            f1_macro=float(f1.mean()),
            auc_macro=float(auc[defined].mean()) if defined.any() else float('nan'))

    @staticmethod
    def save_confusion_matrix(cm: np.ndarray, classes: Sequence[str], out_dir: str) -> None:
        """Write ``cls_confusion_matrix.json`` and ``.png`` to ``out_dir``.

        The plot's colours are row-normalised (the diagonal reads as each
        class's sensitivity) so that the classes compare on one scale
        whatever their supports; the cells show the raw counts.

        Args:
            cm (np.ndarray): ``(C, C)`` counts, rows ground truth.
            classes (Sequence[str]): The C class names.
            out_dir (str): Output directory, created if needed.
        """
        # Figure + the Agg canvas directly: no pyplot state and no global
        # backend switch in a process that may also run a GUI or other plots
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        mkdir_or_exist(out_dir)
        support = cm.sum(axis=1)
        json_path, png_path = osp.join(out_dir, CM_JSON), osp.join(out_dir, CM_PNG)
        atomic_write_json(dict(classes=list(classes), confusion_matrix=cm.tolist(),
                               support=support.tolist(),
                               layout='rows: ground truth, columns: prediction'),
                          json_path, indent=2)

        rates = cm / np.maximum(support, 1)[:, None]
        n = len(classes)
        fig = Figure(figsize=(1.6 * n + 2, 1.4 * n + 1.5), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        im = ax.imshow(rates, cmap='Blues', vmin=0.0, vmax=1.0)
        fig.colorbar(im, ax=ax, label='fraction of the ground-truth class')
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f'{cm[i, j]}\n{100 * rates[i, j]:.1f}%', ha='center',
                        va='center', color='white' if rates[i, j] > 0.5 else 'black')
        ax.set_xticks(range(n), labels=list(classes))
        ax.set_yticks(range(n), labels=[f'{c} ({s})' for c, s in zip(classes, support)])
        ax.set_xlabel('prediction')
        ax.set_ylabel('ground truth (support)')
        ax.set_title('Slice classification confusion matrix')
        fig.tight_layout()
        fig.savefig(png_path)
        print_log(f'confusion matrix written to {json_path} and {png_path}', logger='current')


def weighted_f1(labels: ArrayLike, preds: ArrayLike, num_classes: int) -> float:
    """Support-weighted F1 of hard predictions, as :meth:`ClsSensitivityF1.calculate`
    gives it (``f1_weighted``).

    Args:
        labels: ``(N, )`` ground-truth labels in ``[0, C)``.
        preds: ``(N, )`` predicted labels in ``[0, C)``.
        num_classes: ``C``.
    """
    one_hot = np.eye(num_classes)[_to_numpy(preds).reshape(-1)]  # argmax = preds
    return float(ClsSensitivityF1.calculate(one_hot, labels, num_classes)['f1_weighted'])
