"""COCO AP for the lesion set that stays defined when nothing is detected."""
from typing import Dict

from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS
from mmengine.logging import MMLogger

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
    Everything else is ``CocoMetric`` unchanged.
    """

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
