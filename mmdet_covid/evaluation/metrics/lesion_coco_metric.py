"""COCO AP for the lesion set that stays defined when nothing is detected."""
import os.path as osp
from typing import Dict, Optional

import torch
from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS
from mmengine.logging import MMLogger

from ..functional.mask_threshold import binary_masks

# mmdet's CocoMetric summary keys for bbox/segm, in the order it logs them.
AP_ITEMS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')


@METRICS.register_module()
class LesionCocoMetric(CocoMetric):
    """mmdet's ``CocoMetric``, except when the model detects nothing at all.

    ``CocoMetric`` then logs an error and returns no keys, so that an early
    validation of a model that is still learning breaks ``save_best`` and the
    log loses its AP columns. A test set with lesions and no detections has
    AP 0 (every lesion is missed), which is what this metric reports, with a
    warning; a test set without any lesion gets -1, COCO's "undefined".
    Masks given as probabilities (uint8 0..255, what a model returns with
    ``test_cfg.rcnn.mask_thr_binary=-1`` for :class:`LesionDiceMetric`) are
    binarised at ``mask_thr`` first, as the model would have. Everything else is
    ``CocoMetric`` unchanged.

    Args:
        score_thr (float): Only detections scoring at least this count, e.g.
            0.75, the paper's inference threshold, in a second metric beside
            one over every detection the model returns. Defaults to 0 (all).
        data_root (str, optional): Folder a relative ``ann_file`` is read
            from, as for the datasets (``SSMRunner`` sets it from
            ``seg_data_root``). Defaults to None (``ann_file`` as given).
        mask_thr (float): Probability at which uint8 probability masks are
            binarised. Defaults to 0.5 (mmdet's ``mask_thr_binary``).
        **kwargs: :class:`CocoMetric` arguments.
    """

    def __init__(self, score_thr: float = 0.0, data_root: Optional[str] = None,
                 mask_thr: float = 0.5, **kwargs) -> None:
        ann_file = kwargs.get('ann_file')
        if data_root and ann_file and not osp.isabs(ann_file):
            kwargs['ann_file'] = osp.join(data_root, ann_file)
        self.data_root = data_root
        super().__init__(**kwargs)
        self.score_thr = score_thr
        self.mask_thr = mask_thr

    def process(self, data_batch: dict, data_samples) -> None:
        if self.score_thr > 0:
            data_samples = [self._above_thr(s) for s in data_samples]
        data_samples = [self._binary_masks(s) for s in data_samples]
        super().process(data_batch, data_samples)

    def _binary_masks(self, sample: dict) -> dict:
        pred = sample.get('pred_instances', {})
        masks = pred.get('masks')
        if not isinstance(masks, torch.Tensor) or masks.dtype != torch.uint8:
            return sample
        return dict(sample, pred_instances=dict(pred, masks=binary_masks(masks, self.mask_thr)))

    def _above_thr(self, sample: dict) -> dict:
        pred = sample['pred_instances']
        keep = pred['scores'] >= self.score_thr
        return dict(sample, pred_instances={k: v[keep] if hasattr(v, '__getitem__') and
                                            len(v) == len(keep) else v
                                            for k, v in pred.items()})

    def compute_metrics(self, results: list) -> Dict[str, float]:
        eval_results = super().compute_metrics(results)
        if self.format_only:
            return eval_results
        missing = [m for m in self.metrics
                   if m in ('bbox', 'segm') and f'{m}_mAP' not in eval_results]
        if not missing:
            return eval_results
        num_gt = len(self._coco_api.get_ann_ids(img_ids=self.img_ids))
        value = 0.0 if num_gt else -1.0
        MMLogger.get_current_instance().warning(
            f'LesionCocoMetric: no detection in {len(results)} images with {num_gt} '
            f'lesions; {"/".join(missing)} AP reported as {value}')
        items = self.metric_items or AP_ITEMS
        for metric in missing:
            eval_results.update({f'{metric}_{item}': value for item in items})
        return eval_results
