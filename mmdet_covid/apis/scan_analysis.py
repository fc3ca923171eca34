"""analyze_scan: one CT scan in, the scan-level class and the lesion burden out."""
import hashlib
import time
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Union

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.dataset import pseudo_collate
from torch import nn

from ..datasets.ct_io import CTInputWarning
from ..datasets.ct_volume import CTVolume, read_ct_volume
from ..scan import (LABEL_NAMES, assign_sides, lesion_burden, lesion_labels, lung_mask,
                    scan_class)
from .inference import inference_steps

RESEARCH_USE = ('Research use only. Not a medical device: not for diagnosis or treatment '
                'decisions.')


@dataclass
class ScanAnalysis:
    """What :func:`analyze_scan` finds in one scan.

    Attributes:
        volume: the scan as read (:class:`~mmdet_covid.datasets.ct_volume.CTVolume`).
        sides: (D, H, W) uint8 lung side per voxel (0 none, 1 right, 2 left), lesions
            included.
        lesion_labels: (D, H, W) uint8: 0 none, 1 ground glass, 2 consolidation.
        slices: one row per slice: index, name, z (mm), whether analysed, lung and
            lesion pixels, lesion area, detections; for analysed slices also the best
            lesion score, the class probabilities and the predicted class.
        burden: :func:`~mmdet_covid.scan.lesion_burden`'s table.
        scan: :func:`~mmdet_covid.scan.scan_class`'s decision (None when no slice has lung).
        settings: the thresholds used.
        counts: slices read, analysed, skipped without lung; lesion voxels added to the
            lung mask.
        model: config file and checkpoint (path and SHA-256).
        warnings: everything that looked wrong, in order.
        timings: seconds per stage.
    """
    volume: CTVolume
    sides: np.ndarray
    lesion_labels: np.ndarray
    slices: List[dict]
    burden: Dict[str, dict]
    scan: Optional[dict]
    settings: dict
    counts: dict
    model: dict
    warnings: List[str] = field(default_factory=list)
    timings: Dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Everything but the voxel arrays, as plain JSON types (``report.json``)."""
        return dict(
            notice=RESEARCH_USE,
            input=dict(source=self.volume.source, kind=self.volume.kind,
                       hu_exact=self.volume.hu_exact,
                       series=None if self.volume.series is None else {
                           k: v for k, v in self.volume.series.items() if k != 'datasets'}),
            geometry=self.volume.geometry(), model=self.model, settings=self.settings,
            scan=self.scan, burden=self.burden, counts=self.counts, slices=self.slices,
            warnings=self.warnings, timings_s=self.timings)


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


@torch.no_grad()
def _predict(model: nn.Module, hu: np.ndarray, indices: np.ndarray, batch_size: int,
             progress: bool) -> list:
    """The SSM's samples for the slices ``indices`` of ``hu``, in batches."""
    from tqdm import tqdm

    pipeline = Compose(inference_steps(model.cfg, loader='CTInferencerLoader'))
    samples = []
    bar = tqdm(total=len(indices), desc='slices', unit='slice', disable=not progress)
    for start in range(0, len(indices), batch_size):
        batch = [pipeline(dict(img=hu[k], img_id=int(k))) for k in
                 indices[start:start + batch_size]]
        samples.extend(model.test_step(pseudo_collate(batch)))
        bar.update(len(batch))
    bar.close()
    return samples


def read_scan(source: str, series_uid: Optional[str] = None,
              allow_non_ct: bool = False) -> CTVolume:
    """:func:`read_ct_volume`, with every :class:`CTInputWarning` that the read
    issues also kept in the volume's ``warnings`` (for the report): read a scan
    first, so that a bad input fails before a model is loaded, then pass the
    volume to :func:`analyze_scan`."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', CTInputWarning)
        volume = read_ct_volume(source, series_uid, allow_non_ct)
    for w in caught:  # issued again for the caller
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    volume.warnings = list(dict.fromkeys([str(w.message) for w in caught] + volume.warnings))
    return volume


def analyze_scan(model: nn.Module, source: Union[str, CTVolume], batch_size: int = 4,
                 series_uid: Optional[str] = None, lesion_score_thr: float = 0.75,
                 min_lesion_slices: int = 1, consolidation_hu: float = -300.0,
                 lung_threshold_hu: float = -500.0, min_lung_fraction: float = 0.05,
                 checkpoint: Optional[str] = None, allow_non_ct: bool = False,
                 progress: bool = False) -> ScanAnalysis:
    """Analyse one CT scan with an SSM.

    Args:
        model: an SSM from :func:`~mmdet_covid.apis.init_ssm`.
        source: a DICOM series folder, a NIfTI volume or a folder of slice images,
            or a volume read by :func:`read_scan` (``series_uid`` and
            ``allow_non_ct`` then do not apply).
        batch_size: slices per forward pass.
        series_uid: the DICOM series to read (default: the axial CT series with most
            slices).
        lesion_score_thr: detections from this score are lesions (volume, lesion slices).
        min_lesion_slices: lesion slices needed for a diseased scan
            (:func:`~mmdet_covid.scan.scan_class`).
        consolidation_hu: lesion voxels from this HU are consolidation, below it GGO.
        lung_threshold_hu: air threshold of the lung mask.
        min_lung_fraction: a slice whose lung area is below this share of the largest
            slice's is not analysed (counted in ``counts``).
        checkpoint: the weights' file, for the report (path and SHA-256).
        allow_non_ct: read a DICOM series whose Modality is not CT.
        progress: show a progress bar.
    """
    timings = {}
    t0 = time.perf_counter()
    volume = source if isinstance(source, CTVolume) else \
        read_scan(source, series_uid, allow_non_ct)
    notes = list(volume.warnings)
    timings['read'] = time.perf_counter() - t0

    t0 = time.perf_counter()
    sides, midline = lung_mask(volume.hu, volume.spacing, lung_threshold_hu)
    lung_area = (sides > 0).sum(axis=(1, 2))
    has_lung = lung_area >= min_lung_fraction * max(int(lung_area.max()), 1)
    has_lung &= lung_area > 0
    timings['lung_mask'] = time.perf_counter() - t0

    t0 = time.perf_counter()
    analysed = np.flatnonzero(has_lung)
    samples = _predict(model, volume.hu, analysed, batch_size, progress)
    timings['model'] = time.perf_counter() - t0

    t0 = time.perf_counter()
    depth = volume.hu.shape[0]
    lesions = np.zeros(volume.hu.shape, bool)
    classes = tuple(model.classifier.classes)
    probs = np.zeros((len(analysed), len(classes)), np.float64)
    top = np.zeros(len(analysed), np.float64)
    detections = np.zeros(depth, np.int64)
    for row, (k, sample) in enumerate(zip(analysed, samples)):
        inst = sample.pred_instances
        keep = inst.scores >= lesion_score_thr
        if keep.any():
            lesions[k] = inst.masks[keep].any(dim=0).cpu().numpy()
        detections[k] = int(keep.sum())
        top[row] = float(inst.scores.max()) if len(inst.scores) else 0.0
        probs[row] = sample.pred_score.detach().cpu().double().numpy()
    sides, added = assign_sides(sides, lesions, midline)
    if added:
        notes.append(f'{added} lesion voxel(s) lay outside the classical lung mask (dense '
                     'lesions against the chest wall are not air) and were added to the '
                     'lung')
    labels = lesion_labels(lesions, volume.hu, consolidation_hu)
    burden = lesion_burden(labels, sides, volume.voxel_ml)
    decision = None
    if len(analysed):
        decision = scan_class(probs, top, lesion_score_thr, min_lesion_slices, classes)
    else:
        notes.append(f'{volume.source}: no slice with lung; no scan class')
    timings['burden'] = time.perf_counter() - t0

    pixel_mm2 = None if volume.spacing is None else volume.spacing[1] * volume.spacing[2]
    lesion_px = lesions.sum(axis=(1, 2))
    lung_px = (sides > 0).sum(axis=(1, 2))
    row_of = {int(k): i for i, k in enumerate(analysed)}
    z_mm = (None if volume.affine is None else
            (volume.affine @ np.stack([np.zeros(depth), np.zeros(depth), np.arange(depth),
                                       np.ones(depth)]))[2])
    slices = []
    for k in range(depth):
        row = dict(index=k, name=volume.slice_names[k],
                   z_mm=None if z_mm is None else round(float(z_mm[k]), 4),
                   analysed=k in row_of, lung_pixels=int(lung_px[k]),
                   lesion_pixels=int(lesion_px[k]),
                   lesion_area_mm2=None if pixel_mm2 is None else float(lesion_px[k] * pixel_mm2),
                   lesions=int(detections[k]))
        if k in row_of:
            i = row_of[k]
            row.update(top_lesion_score=round(float(top[i]), 6),
                       probabilities={c: round(float(p), 6) for c, p in zip(classes, probs[i])},
                       predicted_class=classes[int(np.argmax(probs[i]))])
        slices.append(row)
    counts = dict(slices=depth, analysed=int(len(analysed)),
                  skipped_no_lung=int(depth - len(analysed)),
                  lesion_voxels_added_to_lung=added)
    if counts['skipped_no_lung']:
        notes.append(f'{counts["skipped_no_lung"]} of {depth} slice(s) without lung (lung '
                     f'area under {min_lung_fraction:.0%} of the largest slice\'s) were not '
                     'analysed')
    model_info = dict(config=getattr(model.cfg, 'filename', None),
                      checkpoint=checkpoint,
                      checkpoint_sha256=file_sha256(checkpoint) if checkpoint else None)
    settings = dict(lesion_score_thr=lesion_score_thr, min_lesion_slices=min_lesion_slices,
                    consolidation_hu=consolidation_hu, lung_threshold_hu=lung_threshold_hu,
                    min_lung_fraction=min_lung_fraction, batch_size=batch_size,
                    lesion_labels={str(k): v for k, v in LABEL_NAMES.items()})
    return ScanAnalysis(volume=volume, sides=sides, lesion_labels=labels, slices=slices,
                        burden=burden, scan=decision, settings=settings, counts=counts,
                        model=model_info, warnings=notes, timings=timings)
