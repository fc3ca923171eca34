"""analyze_scan: one CT scan in, the scan-level class and the lesion burden out."""
import hashlib
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Union

import numpy as np
from mmcv.transforms import Compose
from torch import nn

from ..io.ct_io import CTInputWarning
from ..io.ct_volume import CTVolume
from ..io.scan_reader import read_ct_volume
from ..scan import (LABEL_NAMES, assign_sides, lesion_burden, lesion_labels, lung_mask,
                    scan_class)
from ..scan.lesion_placement import (CAVITY_REACH_MM, LESION_MARGIN_MM, MIN_LUNG_SHARE,
                                     lung_lesions, margin_pixels, near_lung, thoracic_cavity)
from ..scan.lobes import NO_LOBES, LobeLabels
from ..scan.lung_mask import DOME_MM2, bounding_box
from ..scan.model_grid import ModelGrid, model_input_size
from ..scan.report import RESEARCH_USE
from ..utils.provenance import model_pixel_mm, training_notices
from ..utils.stage_meter import StageMeter
from .batch_inference import batch_predictions
from .inference import inference_steps

# Coarser input pixels than this many model pixels: lesion edges coarser than in training.
COARSE_PIXELS = 1.5
# What the model sees around the box of the lungs (mm) where its canvas is fitted to them
# (``--fit-canvas``).
FIT_MARGIN_MM = 16.0


@dataclass
class ScanAnalysis:
    """What :func:`analyze_scan` finds in one scan.

    Attributes:
        volume: the scan as read (:class:`~mmdet_covid.io.ct_volume.CTVolume`).
        sides: (D, H, W) uint8 lung side per voxel (0 none, 1 right, 2 left), lesions
            included.
        lesion_labels: (D, H, W) uint8: 0 none, 1 ground glass, 2 consolidation.
        slices: one row per slice: index, name, z (mm), whether analysed, lung and
            lesion pixels, lesion area, detections in the lung and outside it; for
            analysed slices also the best lesion score, the class probabilities and the
            predicted class.
        burden: :func:`~mmdet_covid.scan.lesion_burden`'s table.
        scan: :func:`~mmdet_covid.scan.scan_class`'s decision (None when no slice has lung).
        settings: the thresholds used, and how slices were resampled for the model.
        counts: slices read, analysed, skipped without lung; detections kept and dropped
            outside the lung; lesion pixels outside the thoracic cavity; lesion voxels
            added to the lung mask.
        model: config file, checkpoint (path and SHA-256), what each task was trained on
            (``training_data``) and the ``notices`` that follow from it.
        warnings: everything that looked wrong, in order.
        timings: seconds per stage.
        peak_rss_mb: the peak resident memory of each stage (MiB;
            :class:`~mmdet_covid.utils.stage_meter.StageMeter`).
        lobes: the burden per lobe and the severity score
            (:meth:`~mmdet_covid.scan.lobes.LobeLabels.burden`), or None when no lobe
            labels were given.
        grid: how the slices were given to the model (None: as they are).
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
    peak_rss_mb: Dict[str, float] = field(default_factory=dict)
    lobes: Optional[dict] = None
    grid: Optional[ModelGrid] = None

    @property
    def notices(self) -> List[str]:
        """What the model's outputs are not validated for (its training data)."""
        return list(self.model.get('notices', []))

    def to_dict(self) -> dict:
        """Everything but the voxel arrays, as plain JSON types (``report.json``)."""
        return dict(
            notice=RESEARCH_USE, validation_notices=self.notices,
            input=dict(source=self.volume.source, kind=self.volume.kind,
                       hu_exact=self.volume.hu_exact,
                       series=None if self.volume.series is None else {
                           k: v for k, v in self.volume.series.items() if k != 'datasets'}),
            geometry=self.volume.geometry(), model=self.model, settings=self.settings,
            scan=self.scan, burden=self.burden,
            lobes=self.lobes or dict(severity_score=None, note=NO_LOBES),
            counts=self.counts, slices=self.slices,
            warnings=self.warnings, timings_s=self.timings, peak_rss_mb=self.peak_rss_mb)


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


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


def model_grid(model: nn.Module, volume: CTVolume, lungs: np.ndarray, notes: List[str],
               training_data: Optional[dict],
               fit_margin_mm: Optional[float] = None) -> Optional[ModelGrid]:
    """The :class:`ModelGrid` of a scan (centred on its ``lungs``, a (D, H, W) mask), or
    None (slices given to the model as they are); what it does, and why not, is added to
    ``notes``. With ``fit_margin_mm``, the canvas shrinks to the lungs and that margin
    (:meth:`ModelGrid.build`'s ``fit_margin``); None: the model's whole input size."""
    canvas = model_input_size(inference_steps(model.cfg))
    target = model_pixel_mm(training_data)
    if volume.spacing is None or canvas is None or target is None:
        if volume.spacing is not None and canvas is not None:
            notes.append('The checkpoint does not record the pixel size its model was '
                         'trained at: slices are given to the model as they are (their '
                         f'field of view stretched to {canvas[0]}x{canvas[1]} pixels)')
        return None
    lung_box = bounding_box(lungs)
    grid = ModelGrid.build(volume.hu.shape[1:], volume.spacing[1:], target,
                           (canvas[1], canvas[0]), lung_box)
    fitted = grid if fit_margin_mm is None or lung_box is None else ModelGrid.build(
        volume.hu.shape[1:], volume.spacing[1:], target, (canvas[1], canvas[0]), lung_box,
        fit_margin=int(np.ceil(fit_margin_mm / target)))
    if grid.identity:
        return fitted
    notes.append(f'Slices resampled from {volume.spacing[2]:.3f} mm to {target:.3f} mm pixels '
                 f'(the pixel size the model was trained at) on a {canvas[0]}x{canvas[1]} '
                 'canvas; masks mapped back onto the input pixels')
    if volume.spacing[2] > COARSE_PIXELS * target:
        notes.append(f'The scan\'s pixels ({volume.spacing[2]:.2f} mm) are more than '
                     f'{COARSE_PIXELS:g} times coarser than the model\'s ({target:.2f} mm): '
                     'lesion edges are coarser than in training and small lesions may be '
                     'over- or under-sized')
    whole = (0, 0) + tuple(volume.hu.shape[1:])
    cut = grid.outside_mm(whole, volume.spacing[1:])
    if cut > 0:
        lung_cut = grid.outside_mm(lung_box, volume.spacing[1:]) if lung_box else 0.0
        notes.append(f'The field of view is wider than the model\'s canvas, centred on the '
                     f'lungs: up to {cut:.0f} mm at the edges of the slices is not seen by the '
                     'model' + (f', the lungs themselves up to {lung_cut:.0f} mm' if lung_cut > 0
                                else ' (none of the lungs)'))
    return fitted


def predict_slices(model: nn.Module, volume: CTVolume, indices: np.ndarray,
                   batch_size: int, grid: Optional[ModelGrid], progress: bool = False):
    """Yield ``(k, sample, masks)`` for the slices ``indices``: the SSM's sample and its
    detections' masks (N, H, W) bool on the input's pixels (all detections)."""
    from tqdm import tqdm

    steps = inference_steps(model.cfg, loader='CTInferencerLoader')
    if grid is not None:  # the slices come on the grid's canvas: its Resize is the identity
        for step in steps:
            if step['type'] == 'Resize':
                step['scale'] = (grid.canvas[1], grid.canvas[0])
    pipeline = Compose(steps)

    def prepare(k: int) -> dict:
        hu = volume.hu[k] if grid is None else grid.to_model(volume.hu[k])
        return pipeline(dict(img=hu, img_id=int(k)))

    with tqdm(total=len(indices), desc='slices', unit='slice',
              disable=not progress) as bar:
        for k, sample in batch_predictions(model, indices, batch_size, prepare):
            masks = sample.pred_instances.masks.cpu().numpy().astype(bool)
            if grid is not None:
                masks = grid.to_input(masks)
            yield int(k), sample, masks
            bar.update(1)


def _lungs(volume: CTVolume, threshold_hu: float, min_lung_fraction: float,
           margin_mm: float) -> tuple:
    """The lung mask of a scan and what the lesions are placed by:
    ``(sides, midline, analysed, near, cavity)`` (:func:`~mmdet_covid.scan.lung_mask`, the
    indices of the slices with lung, :func:`near_lung`, :func:`thoracic_cavity`)."""
    # the domes of the diaphragm are found going from the feet to the head: not in a
    # folder of images, whose name order may run either way
    sides, midline = lung_mask(volume.hu, volume.spacing, threshold_hu,
                               min_dome_mm2=float('inf') if volume.kind == 'images' else
                               DOME_MM2)
    lung_area = (sides > 0).sum(axis=(1, 2))
    has_lung = lung_area >= min_lung_fraction * max(int(lung_area.max()), 1)
    has_lung &= lung_area > 0
    radius = margin_pixels(volume.spacing, volume.hu.shape[2], margin_mm)
    near = near_lung(sides, radius)
    cavity = thoracic_cavity(sides, radius, margin_pixels(
        volume.spacing, volume.hu.shape[2], CAVITY_REACH_MM))
    return sides, midline, np.flatnonzero(has_lung), near, cavity


@contextmanager
def _detections_from(model: nn.Module, score_thr: float) -> Iterator[None]:
    """The model keeps only detections scoring ``score_thr`` or more (where its own
    threshold is lower): no mask of a detection that the analysis ignores is computed
    and pasted. The detections above it are the same (the score filter comes before
    NMS, and NMS and the ``max_per_img`` cut take detections by score)."""
    cfg = getattr(getattr(model, 'roi_head', None), 'test_cfg', None)
    if cfg is None or 'score_thr' not in cfg:
        yield
        return
    before = cfg.score_thr
    # the head keeps scores > score_thr (float32): just under it keeps those == it
    cfg.score_thr = max(before, float(np.nextafter(np.float32(score_thr), np.float32(-1))))
    try:
        yield
    finally:
        cfg.score_thr = before


def _lesions(model: nn.Module, volume: CTVolume, analysed: np.ndarray, batch_size: int,
             grid: Optional[ModelGrid], score_thr: float, near: np.ndarray,
             cavity: np.ndarray, min_lung_share: float, progress: bool) -> tuple:
    """The lesions the model finds in the ``analysed`` slices, pasted into one (D, H, W)
    volume slice by slice as the batches come:
    ``(lesions, probs, top, in_lung, outside, dropped)``: lesion pixels; per analysed
    slice the class probabilities and the best lesion score in the lung; per slice the
    detections in the lung and outside it, and the pixels not counted
    (:func:`lung_lesions`)."""
    depth = volume.hu.shape[0]
    lesions = np.zeros(volume.hu.shape, bool)
    probs = np.zeros((len(analysed), len(model.classifier.classes)), np.float64)
    top = np.zeros(len(analysed), np.float64)
    in_lung = np.zeros(depth, np.int64)
    outside = np.zeros(depth, np.int64)
    dropped = {key: np.zeros(depth, np.int64) for key in ('outside_lung', 'outside_cavity')}
    with _detections_from(model, score_thr):
        for row, (k, sample, masks) in enumerate(
                predict_slices(model, volume, analysed, batch_size, grid, progress)):
            scores = sample.pred_instances.scores.detach().cpu().numpy()
            keep = scores >= score_thr
            lesions[k], kept, lost = lung_lesions(masks[keep], near[k], cavity[k],
                                                  min_lung_share)
            for key, pixels in lost.items():
                dropped[key][k] = pixels
            in_lung[k], outside[k] = int(kept.sum()), int((~kept).sum())
            top[row] = float(scores[keep][kept].max()) if kept.any() else 0.0
            probs[row] = sample.pred_score.detach().cpu().double().numpy()
    return lesions, probs, top, in_lung, outside, dropped


def analyze_scan(model: nn.Module, source: Union[str, CTVolume], batch_size: int = 4,
                 series_uid: Optional[str] = None, lesion_score_thr: float = 0.75,
                 min_lesion_slices: int = 1, consolidation_hu: float = -300.0,
                 lung_threshold_hu: float = -500.0, min_lung_fraction: float = 0.05,
                 lesion_margin_mm: float = LESION_MARGIN_MM,
                 min_lung_share: float = MIN_LUNG_SHARE, checkpoint: Optional[str] = None,
                 allow_non_ct: bool = False, lobes: Optional[LobeLabels] = None,
                 fit_margin_mm: Optional[float] = None,
                 meter: Optional[StageMeter] = None, progress: bool = False) -> ScanAnalysis:
    """Analyse one CT scan with an SSM.

    Args:
        model: an SSM from :func:`~mmdet_covid.apis.init_ssm` (its ``training_data``,
            read from the checkpoint, says what it was trained on and at which pixel
            size; slices are resampled to it, :mod:`~mmdet_covid.scan.model_grid`).
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
        lesion_margin_mm: pixels this close to the lung mask count as in the lung
            (:mod:`~mmdet_covid.scan.lesion_placement`).
        min_lung_share: a detection counts when this share of its pixels is in the
            lung.
        checkpoint: the weights' file, for the report (path and SHA-256).
        allow_non_ct: read a DICOM series whose Modality is not CT, or values that do
            not look like HU.
        lobes: lung lobes on the scan's grid (:func:`~mmdet_covid.scan.lobes.load_lobes`
            of a volume read by :func:`read_scan`): the burden per lobe and the CT
            severity score (``ScanAnalysis.lobes``).
        fit_margin_mm: the model sees only the box of the lungs and this margin around
            it (:data:`FIT_MARGIN_MM`, say), on a canvas of that size (multiples of 32
            pixels, at most the model's input size): faster, and the lesions in the
            lung barely change, but the slice class does (the RPN's proposals, which
            S reads, are no longer those of a whole slice; docs/scan_analysis.md).
            None (default): the model's whole input size, as in training.
        meter: times the stages and records their peak memory (``timings`` and
            ``peak_rss_mb``); the caller's, to time its own stages with them.
        progress: show a progress bar.
    """
    meter = StageMeter() if meter is None else meter
    with meter('read'):
        volume = source if isinstance(source, CTVolume) else \
            read_scan(source, series_uid, allow_non_ct)
    notes = list(volume.warnings)
    with meter('lung_mask'):
        sides, midline, analysed, near, cavity = _lungs(volume, lung_threshold_hu,
                                                        min_lung_fraction, lesion_margin_mm)
    training_data = getattr(model, 'training_data', None)
    with meter('model'):
        grid = model_grid(model, volume, sides[analysed] > 0, notes, training_data,
                          fit_margin_mm)
        found = _lesions(model, volume, analysed, batch_size, grid, lesion_score_thr,
                         near, cavity, min_lung_share, progress)
    del near, cavity
    lesions, probs, top, in_lung, outside, dropped = found
    with meter('burden'):
        sides, added = assign_sides(sides, lesions, midline)
        labels = lesion_labels(lesions, volume.hu, consolidation_hu)
        burden = lesion_burden(labels, sides, volume.slice_voxel_ml)
        classes = tuple(model.classifier.classes)
        decision = scan_class(probs, top, lesion_score_thr, min_lesion_slices, classes) \
            if len(analysed) else None
    dropped_ml = None if volume.slice_voxel_ml is None else {
        key: float((pixels * volume.slice_voxel_ml).sum()) for key, pixels in dropped.items()}
    dropped_size = {key: f'{int(pixels.sum())} voxels' if dropped_ml is None else
                    f'{dropped_ml[key]:.1f} mL' for key, pixels in dropped.items()}
    if outside.sum():
        notes.append(f'{int(outside.sum())} detection(s) scored >= {lesion_score_thr:g} in '
                     f'{int((outside > 0).sum())} slice(s), {dropped_size["outside_lung"]}, '
                     f'lay mostly outside the lung (less than {min_lung_share:.0%} of their '
                     f'pixels within {lesion_margin_mm:g} mm of it: chest wall, fat, '
                     'abdomen?) and were not counted')
    if dropped['outside_cavity'].sum():
        notes.append(f'{dropped_size["outside_cavity"]} of detections in the lung lay outside '
                     f'the thoracic cavity (the convex hull of each lung, within '
                     f'{CAVITY_REACH_MM:g} mm of it) and were not counted')
    if added:
        notes.append(f'{added} lesion voxel(s) inside the thoracic cavity lay outside the '
                     'classical lung mask (dense lesions against the chest wall are not air) '
                     'and were added to the lung')
    if decision is None:
        notes.append(f'{volume.source}: no slice with lung; no scan class')

    depth = volume.hu.shape[0]
    pixel_mm2 = None if volume.spacing is None else volume.spacing[1] * volume.spacing[2]
    lesion_px = lesions.sum(axis=(1, 2))
    lung_px = (sides > 0).sum(axis=(1, 2))
    row_of = {int(k): i for i, k in enumerate(analysed)}
    slices = []
    for k in range(depth):
        row = dict(index=k, name=volume.slice_names[k],
                   z_mm=None if volume.slice_z_mm is None else
                   round(float(volume.slice_z_mm[k]), 4),
                   analysed=k in row_of, lung_pixels=int(lung_px[k]),
                   lesion_pixels=int(lesion_px[k]),
                   lesion_area_mm2=None if pixel_mm2 is None else float(lesion_px[k] * pixel_mm2),
                   lesions=int(in_lung[k]), detections_outside_lung=int(outside[k]))
        if k in row_of:
            i = row_of[k]
            row.update(top_lesion_score=round(float(top[i]), 6),
                       probabilities={c: round(float(p), 6) for c, p in zip(classes, probs[i])},
                       predicted_class=classes[int(np.argmax(probs[i]))])
        slices.append(row)
    counts = dict(slices=depth, analysed=int(len(analysed)),
                  skipped_no_lung=int(depth - len(analysed)),
                  detections_in_lung=int(in_lung.sum()),
                  detections_outside_lung=int(outside.sum()),
                  voxels_outside_lung_not_counted=int(dropped['outside_lung'].sum()),
                  voxels_outside_cavity_not_counted=int(dropped['outside_cavity'].sum()),
                  lesion_voxels_added_to_lung=added)
    if dropped_ml is not None:
        counts.update(ml_outside_lung_not_counted=dropped_ml['outside_lung'],
                      ml_outside_cavity_not_counted=dropped_ml['outside_cavity'])
    if counts['skipped_no_lung']:
        notes.append(f'{counts["skipped_no_lung"]} of {depth} slice(s) without lung (lung '
                     f'area under {min_lung_fraction:.0%} of the largest slice\'s) were not '
                     'analysed')
    model_info = dict(config=getattr(model.cfg, 'filename', None),
                      checkpoint=checkpoint,
                      checkpoint_sha256=file_sha256(checkpoint) if checkpoint else None,
                      training_data=training_data,
                      notices=training_notices(training_data))
    settings = dict(lesion_score_thr=lesion_score_thr, min_lesion_slices=min_lesion_slices,
                    consolidation_hu=consolidation_hu, lung_threshold_hu=lung_threshold_hu,
                    min_lung_fraction=min_lung_fraction, lesion_margin_mm=lesion_margin_mm,
                    min_lung_share=min_lung_share,
                    batch_size=batch_size, fit_margin_mm=fit_margin_mm,
                    model_grid=None if grid is None else dict(
                        identity=grid.identity, model_pixel_mm=model_pixel_mm(training_data),
                        resampled_rows_columns=list(grid.resampled),
                        canvas_rows_columns=list(grid.canvas), offset_rows_columns=list(
                            grid.offset)),
                    lesion_labels={str(k): v for k, v in LABEL_NAMES.items()})
    lobe_table = None
    if lobes is not None:  # (lobe_burden refuses lobes of another grid)
        lobe_table = lobes.burden(labels, volume.slice_voxel_ml)
        if lobe_table['lobes_missing']:
            missing = ', '.join(lobe_table['lobes_missing'])
            notes.append(f'lobes {lobes.source}: no voxel of {missing}; no severity score')
        if lobe_table['lesion_voxels_outside_lobes']:
            notes.append(f'{lobe_table["lesion_voxels_outside_lobes"]} lesion voxel(s) lie in no '
                         'lobe of the lobe labels: in the burden, not in the lobe scores')
    return ScanAnalysis(volume=volume, sides=sides, lesion_labels=labels, slices=slices,
                        burden=burden, scan=decision, settings=settings, counts=counts,
                        model=model_info, warnings=notes, timings=meter.seconds,
                        peak_rss_mb=meter.peak_rss_mb, lobes=lobe_table, grid=grid)
