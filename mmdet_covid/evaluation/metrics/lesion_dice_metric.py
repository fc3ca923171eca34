"""LesionDiceMetric: Inf-Net's meanDic / maxDic, sensitivity and specificity of the
lesion map a detector's instance masks make, binary and per class."""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmdet.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from PIL import Image

from ..functional.threshold_dice import instance_map, summarise, threshold_curves

GT_EXTS = ('.png', '.bmp', '.tif', '.tiff', '.jpg')
BINARY = 'lesion'  # the key of the map of every instance


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if hasattr(x, 'to_ndarray'):  # mmdet's BitmapMasks / PolygonMasks
        return x.to_ndarray()
    return np.asarray(x)


def read_truth(folder: str, stem: str) -> np.ndarray:
    """The truth image ``folder/<stem>.<ext>`` as stored (bool for a 1-bit image,
    uint8 otherwise); an error naming both when there is none."""
    for ext in GT_EXTS:
        path = osp.join(folder, stem + ext)
        if osp.isfile(path):
            with Image.open(path) as img:
                if img.mode == '1':
                    return np.array(img, dtype=bool)
                return np.array(img.convert('L'))
    raise FileNotFoundError(f'{folder}: no truth image for slice {stem!r}; expected '
                            f'{stem}.png (or {", ".join(GT_EXTS[1:])}) beside the others')


@METRICS.register_module()
class LesionDiceMetric(BaseMetric):
    """Inf-Net's segmentation metrics (:mod:`..functional.threshold_dice`) for an
    instance-segmentation model: each test slice's lesion map is the maximum over
    its instances of mask x score, compared with the slice's truth at 256
    thresholds and averaged as the published table was.

    Masks as the model returns them: bool (mmdet's default ``mask_thr_binary=0.5``;
    the map is then the best score of the instances covering each pixel), or
    probabilities (``mask_thr_binary=-1``: uint8 0..255; :class:`LesionCocoMetric`
    binarises them itself).

    Keys (with the prefix ``dice/``): ``meanDic``, ``maxDic``, ``meanSen``,
    ``maxSen``, ``meanSpe``, ``maxSpe`` of the binary map (every instance), and
    ``<class>_meanDic``, ... for each class of ``class_gt_dirs``.

    Args:
        gt_dir (str, optional): Folder of binary truth images named as the slices
            (``<stem>.png``; COVID-SemiSeg's ``GT``), relative to ``data_root``.
            None: the union of the sample's ground-truth instance masks (which
            lacks components the converter dropped: not the published protocol).
        class_gt_dirs (dict, optional): class name -> folder of that class's truth
            (COVID-SemiSeg's ``GT-1`` for ground glass, ``GT-2`` for
            consolidation), compared with that class's instances only.
        data_root (str, optional): Folder relative truth folders are read from
            (``SSMRunner`` sets it from ``seg_data_root``).
        score_weighted (bool): Map = probability x score (True) or the
            probability alone (False). Defaults to True.
        score_thr (float): Instances scoring below it are left out. Defaults to 0.
    """

    default_prefix = 'dice'

    def __init__(self,
                 gt_dir: Optional[str] = None,
                 class_gt_dirs: Optional[Dict[str, str]] = None,
                 data_root: Optional[str] = None,
                 score_weighted: bool = True,
                 score_thr: float = 0.0,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.gt_dir = gt_dir
        self.class_gt_dirs = dict(class_gt_dirs or {})
        self.data_root = data_root
        self.score_weighted = score_weighted
        self.score_thr = score_thr

    def _folder(self, folder: str) -> str:
        if self.data_root and not osp.isabs(folder):
            return osp.join(self.data_root, folder)
        return folder

    def _class_index(self, name: str) -> int:
        classes = tuple((self.dataset_meta or {}).get('classes', ()))
        if name not in classes:
            raise KeyError(f'LesionDiceMetric: class_gt_dirs names {name!r}, which is not '
                           f'a class of the dataset {classes}; expected one of them')
        return classes.index(name)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """One result per slice: the three curves of the binary map and of each class."""
        for sample in data_samples:
            pred = sample['pred_instances']
            masks = _numpy(pred['masks'])
            scores = _numpy(pred['scores']).astype(np.float64)
            labels = _numpy(pred['labels']).astype(np.int64)
            keep = scores >= self.score_thr
            masks, scores, labels = masks[keep], scores[keep], labels[keep]
            shape = tuple(sample['ori_shape'][:2])
            stem = osp.splitext(osp.basename(sample.get('img_path') or ''))[0]
            weights = scores if self.score_weighted else None
            result = dict(img_id=sample.get('img_id'))
            if self.gt_dir is not None:
                truth = read_truth(self._folder(self.gt_dir), stem)
            else:
                truth = self._instance_truth(sample, shape)
            result[BINARY] = threshold_curves(instance_map(masks, weights, shape), truth)
            for name, folder in self.class_gt_dirs.items():
                mine = labels == self._class_index(name)
                score_map = instance_map(masks[mine], None if weights is None
                                         else weights[mine], shape)
                result[name] = threshold_curves(score_map, read_truth(self._folder(folder),
                                                                      stem))
            self.results.append(result)

    @staticmethod
    def _instance_truth(sample: dict, shape) -> np.ndarray:
        gt = sample.get('gt_instances', {})
        if 'masks' not in gt:
            raise KeyError(f'{sample.get("img_path")}: no gt_dir was given and the sample '
                           'has no ground-truth masks; expected gt_dir (a folder of truth '
                           'images) or LoadAnnotations(with_mask=True) in the test pipeline')
        masks = _numpy(gt['masks'])
        if not len(masks):
            return np.zeros(shape, bool)
        if masks.shape[1:] != shape:
            raise ValueError(f'{sample.get("img_path")}: ground-truth masks of '
                             f'{masks.shape[1:]} for a {shape} slice; expected '
                             'LoadAnnotations after Resize in the test pipeline')
        return masks.astype(bool).any(axis=0)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        metrics = summarise(r[BINARY] for r in results)
        for name in self.class_gt_dirs:
            metrics.update({f'{name}_{key}': value
                            for key, value in summarise(r[name] for r in results).items()})
        MMLogger.get_current_instance().info(
            f'LesionDiceMetric on {len(results)} slices (Inf-Net protocol): ' + ', '.join(
                f'{k} {v:.4f}' for k, v in metrics.items() if 'mean' in k or 'maxDic' in k))
        return metrics
