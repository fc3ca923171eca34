"""Writing a scan analysis: report.json, slices.csv, lesions.nii.gz, DICOM-SEG, report.html."""
import base64
import copy
import csv
import html
import io
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..io.atomic_write import atomic_write_json
from ..io.ct_io import apply_window
from ..io.dicom_series import header_text
from ..io.output_folder import check_output_folder, staged_folder
from ..utils.spreadsheet import spreadsheet_safe
from ..utils.strict_json import strict_json
from ..version import __version__
from .burden import CONSOLIDATION_LABEL, GGO_LABEL, LABEL_COLOURS, LABEL_NAMES, ZONES
from .lobes import LOBE_NAMES, NO_LOBES
from .slice_viewer import burden_slices, viewer_html

RESEARCH_USE = ('Research use only. Not a medical device: not for diagnosis or treatment '
                'decisions.')
CSV_COLUMNS = ('index', 'name', 'z_mm', 'analysed', 'lung_pixels', 'lesion_pixels',
               'lesion_area_mm2', 'lesions', 'detections_outside_lung', 'top_lesion_score',
               'predicted_class')


# Type-2 attributes of the patient and study that an anonymised series may lack; the
# DICOM-SEG copies them from the source, empty where the source has none (PS3.3 allows
# an empty value for a type-2 attribute).
TYPE2_COPIED = ('PatientName', 'PatientID', 'PatientBirthDate', 'PatientSex',
                'AccessionNumber', 'StudyID', 'StudyDate', 'StudyTime',
                'ReferringPhysicianName')


def write_report(analysis, out_dir: str, key_slices: int = 3, overwrite: bool = False,
                 extra: Optional[dict] = None) -> Tuple[Dict[str, str], Dict[str, str]]:
    """Write every output of a :class:`~mmdet_covid.apis.scan_analysis.ScanAnalysis`.

    The outputs are written into a staged folder that becomes ``out_dir`` when all are
    done (:func:`~mmdet_covid.io.output_folder.staged_folder`: a killed run never leaves a
    mix of two reports). One output that fails does not stop the others: its error is
    returned and written into ``report.json`` (``output_errors``).

    Args:
        analysis: what to write.
        out_dir: the report folder (:func:`~mmdet_covid.io.output_folder.check_output_folder`
            first: never the input's folder, an earlier report only with ``overwrite``).
        key_slices: slices with most lesion area drawn in the HTML page.
        overwrite: replace an earlier report in ``out_dir``.
        extra: more top-level entries of ``report.json`` (the archive runner's key and
            job); they may not replace the analysis' own.

    Returns:
        ``(paths, errors)``: ``{kind: path}`` of what was written (``json``, ``csv``,
        ``nifti``, ``html`` and, for DICOM input, ``dicom_seg``) and ``{kind: error}`` of
        what could not be.
    """
    import nibabel as nib

    check_output_folder(out_dir, [analysis.volume.source], overwrite)
    report = analysis.to_dict()
    clash = sorted(set(extra or {}) & set(report))
    if clash:
        raise ValueError(f'write_report: extra entries {clash} would replace the analysis\' '
                         'own')
    report.update(extra or {})
    names = dict(dicom_seg='lesions_seg.dcm', csv='slices.csv', nifti='lesions.nii.gz',
                 html='report.html', lobes_csv='lobes.csv', json='report.json')
    empty_in_seg: List[str] = []
    writers = dict(
        dicom_seg=lambda path: empty_in_seg.extend(write_dicom_seg(analysis, path) or ()),
        csv=lambda path: write_slices_csv(analysis.slices, analysis.scan, path),
        nifti=lambda path: nib.save(analysis.volume.to_nifti(analysis.lesion_labels), path),
        html=lambda path: write_html(analysis, path, key_slices, errors),
        lobes_csv=lambda path: write_lobes_csv(analysis.lobes, path))
    if analysis.volume.kind != 'dicom':
        del writers['dicom_seg']
    if not getattr(analysis, 'lobes', None):
        del writers['lobes_csv']
    written: Dict[str, str] = {}
    errors: Dict[str, str] = {}
    with staged_folder(out_dir, overwrite) as staged:
        for kind, write in writers.items():
            path = osp.join(staged, names[kind])
            try:
                write(path)
                written[kind] = names[kind]
            except Exception as exc:  # one output lost, the others still written
                errors[kind] = f'{names[kind]}: {exc.__class__.__name__}: {exc}'
                if osp.exists(path):
                    os.remove(path)
        report['outputs'] = dict(written, json=names['json'])
        report['output_errors'] = errors
        if empty_in_seg:
            report['dicom_seg_empty_attributes'] = empty_in_seg  # absent from the source
        try:
            atomic_write_json(strict_json(report), osp.join(staged, names['json']))
            written['json'] = names['json']
        except Exception as exc:
            errors['json'] = f'{names["json"]}: {exc.__class__.__name__}: {exc}'
    return {kind: osp.join(out_dir, name) for kind, name in written.items()}, errors


def write_slices_csv(slices: List[dict], scan: Optional[dict], path: str) -> None:
    classes = list(scan['probabilities']) if scan else []
    with open(path, 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(list(CSV_COLUMNS) + [f'p_{c}' for c in classes])
        for row in slices:
            probs = row.get('probabilities', {})
            writer.writerow([spreadsheet_safe('' if row.get(c) is None else row.get(c))
                             for c in CSV_COLUMNS] + [probs.get(c, '') for c in classes])


def seg_source_headers(datasets: list) -> Tuple[list, List[str]]:
    """Copies of the source slices' headers that highdicom can build a DICOM-SEG from:
    the type-2 attributes of :data:`TYPE2_COPIED` that an anonymised series lacks set
    empty. Returns the copies and the names of the attributes that were absent."""
    absent = [key for key in TYPE2_COPIED if key not in datasets[0]]
    copies = []
    for ds in datasets:
        header = copy.deepcopy(ds)  # Dataset.copy() shares the elements with ds
        for key in TYPE2_COPIED:
            if key not in header:
                setattr(header, key, '')
        copies.append(header)
    return copies, absent


def write_dicom_seg(analysis, path: str) -> List[str]:
    """The lesion labels as a DICOM Segmentation object (highdicom) referencing the source
    series: segment 1 ground-glass opacity, 2 consolidation; frames in the source
    images' own pixel orientation. Patient and study attributes absent from an
    anonymised source are written empty; returns their names."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    series = analysis.volume.series
    labels = analysis.lesion_labels
    flips = series.get('flips', {})
    if flips.get('columns'):
        labels = labels[:, :, ::-1]
    if flips.get('rows'):
        labels = labels[:, ::-1, :]
    sources, absent = seg_source_headers(series['datasets'])
    algorithm = hd.AlgorithmIdentificationSequence(
        name='mmdet-covid Single Shot Model', version=__version__,
        family=codes.cid7162.ArtificialIntelligence)
    segments = [
        hd.seg.SegmentDescription(
            segment_number=number, segment_label=LABEL_NAMES[number],
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=prop,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm)
        for number, prop in ((GGO_LABEL, codes.DCM.GroundGlassOpacity),
                             (CONSOLIDATION_LABEL, codes.SCT.Lesion))]
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=np.ascontiguousarray(labels),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segments, series_instance_uid=hd.UID(), series_number=9001,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer='mmdet-covid',
        manufacturer_model_name='SSM', software_versions=__version__,
        device_serial_number='none', series_description='SSM lesions (research use only)',
        omit_empty_frames=True)
    seg.save_as(path)
    return absent


# ---------------------------------------------------------------------- HTML
def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=90, bbox_inches='tight')
    import matplotlib.pyplot as plt
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode('ascii')


def _profile_figure(analysis) -> str:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    slices = analysis.slices
    k = np.array([r['index'] for r in slices])
    use_mm = analysis.volume.affine is not None
    x = np.array([r['z_mm'] for r in slices], float) if use_mm else k
    area_key = 'lesion_area_mm2' if use_mm else 'lesion_pixels'
    area = np.array([r[area_key] for r in slices], float)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    classes = list(analysis.scan['probabilities']) if analysis.scan else []
    for c in classes:
        p = np.array([r['probabilities'][c] if r['analysed'] else np.nan for r in slices])
        ax1.plot(x, p, marker='.', label=c)
    ax1.set_ylabel('slice class\nprobability')
    ax1.set_ylim(-0.02, 1.02)
    if classes:
        ax1.legend(loc='upper right', fontsize=8)
    ax2.bar(x, area, width=(np.median(np.diff(x)) if len(x) > 1 else 1) * 0.8, color='tab:red')
    ax2.set_ylabel('lesion area\n(mm²)' if use_mm else 'lesion area\n(pixels)')
    ax2.set_xlabel('slice position z (mm), feet to head' if use_mm else
                   'slice index, feet to head')
    return _png(fig)


def _key_slice_figure(analysis, k: int) -> str:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    grey = apply_window(analysis.volume.hu[k]).astype(np.float32) / 255.0
    rgb = np.repeat(grey[..., None], 3, axis=2)
    labels = analysis.lesion_labels[k]
    for value, colour in LABEL_COLOURS.items():
        sel = labels == value
        rgb[sel] = 0.5 * rgb[sel] + 0.5 * np.asarray(colour, np.float32) / 255.0
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(rgb)
    ax.contour(analysis.sides[k] > 0, levels=[0.5], colors=['tab:cyan'], linewidths=0.6)
    row = analysis.slices[k]
    # names come from the input: shown as text, never parsed as mathtext ($...$)
    ax.set_title(f"slice {k} ({row['name']})\n"
                 f"{row.get('predicted_class', 'not analysed')}, {row['lesions']} lesion(s)",
                 fontsize=8, parse_math=False)
    ax.axis('off')
    return _png(fig)


def fmt(value, digits: int = 1) -> str:
    """``value`` with ``digits`` decimals, '-' for None (a cell of the report's tables)."""
    if value is None:
        return '-'
    return f'{value:.{digits}f}'


def _burden_table(burden: Dict[str, dict], ml: bool,
                  jumps: Optional[Dict[str, int]] = None) -> str:
    """The burden per region; a row with a slice in ``jumps`` shows it in the viewer
    when clicked."""
    jumps = jumps or {}
    unit = 'mL' if ml else 'voxels'
    key = 'ml' if ml else 'voxels'
    head = (f'<tr><th>region</th><th>lung ({unit})</th><th>lesion ({unit})</th>'
            f'<th>lesion % of lung</th><th>GGO ({unit})</th><th>consolidation ({unit})</th>'
            '<th>GGO %</th><th>consolidation %</th></tr>')
    regions = ['total', 'right', 'left'] + [f'{s}_{z}' for s in ('right', 'left')
                                             for z in reversed(ZONES)]
    rows = []
    for region in regions:
        r = burden[region]
        digits = 1 if ml else 0
        jump = f' data-slice="{jumps[region]}"' if region in jumps else ''
        rows.append(
            f"<tr{jump}><td>{region.replace('_', ' ')}</td>"
            f"<td>{fmt(r[f'lung_{key}'], digits)}</td>"
            f"<td>{fmt(r[f'lesion_{key}'], digits)}</td><td>{fmt(r['lesion_percent'])}</td>"
            f"<td>{fmt(r[f'ggo_{key}'], digits)}</td>"
            f"<td>{fmt(r[f'consolidation_{key}'], digits)}</td>"
            f"<td>{fmt(r['ggo_percent'])}</td><td>{fmt(r['consolidation_percent'])}</td></tr>")
    return f'<table>{head}{"".join(rows)}</table>'


LOBE_CSV_COLUMNS = ('lobe', 'lobe_ml', 'lesion_ml', 'ggo_ml', 'consolidation_ml',
                    'lobe_voxels', 'lesion_voxels', 'ggo_voxels', 'consolidation_voxels',
                    'lesion_percent', 'score')


def write_lobes_csv(lobes: dict, path: str) -> None:
    """One row per lobe (burden and score), then the scan's severity score."""
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(LOBE_CSV_COLUMNS)
        for name, row in lobes['lobes'].items():
            writer.writerow([name] + ['' if row.get(c) is None else row.get(c)
                                      for c in LOBE_CSV_COLUMNS[1:]])
        score = lobes['severity_score']
        writer.writerow(['severity_score'] + [''] * (len(LOBE_CSV_COLUMNS) - 2)
                        + ['' if score is None else score])


def _lobe_html(lobes: Optional[dict], ml: bool) -> str:
    """The lobe table and the severity score, or why there is none."""
    e = html.escape
    if not lobes:
        return f'<p class="small">{e(NO_LOBES)}.</p>'
    unit, key = ('mL', 'ml') if ml else ('voxels', 'voxels')
    digits = 1 if ml else 0
    rows = ''.join(
        f"<tr><td>{e(LOBE_NAMES[name])}</td><td>{fmt(r[f'lobe_{key}'], digits)}</td>"
        f"<td>{fmt(r[f'lesion_{key}'], digits)}</td><td>{fmt(r['lesion_percent'])}</td>"
        f"<td>{fmt(r[f'ggo_{key}'], digits)}</td>"
        f"<td>{fmt(r[f'consolidation_{key}'], digits)}</td>"
        f"<td>{'-' if r['score'] is None else r['score']}</td></tr>"
        for name, r in lobes['lobes'].items())
    score = lobes['severity_score']
    shown = '-' if score is None else f'{score} of {lobes["max_score"]}'
    return (f'<p class="decision">CT severity score: {shown}</p>'
            f'<table><tr><th>lobe</th><th>lobe ({unit})</th><th>lesion ({unit})</th>'
            f'<th>lesion % of lobe</th><th>GGO ({unit})</th><th>consolidation ({unit})</th>'
            f'<th>score 0-5</th></tr>{rows}</table>'
            f'<p class="small">Lobes: <code>{e(str(lobes["source"]))}</code> '
            f'({e(lobes["convention"])} labels). Each lobe scores 0 (no lesion), 1 (&lt; 5% '
            'of the lobe), 2 (5-25%), 3 (26-49%), 4 (50-75%), 5 (&gt; 75%); the scan their '
            f'sum (Pan et al., Radiology 2020). {lobes["lesion_voxels_outside_lobes"]} lesion '
            'voxel(s) in no lobe.</p>')


def _patient_html(series: Optional[dict]) -> str:
    """The patient and the series as the DICOM headers name them (escaped: a header is
    text, whatever it holds), or nothing for other inputs."""
    e = html.escape
    headers = (series or {}).get('datasets') or []
    if not headers:
        return ''

    def text(key: str) -> str:
        return e(header_text(headers, key) or '-')

    return (f'<p id="patient">Patient <span class="patient-name">{text("PatientName")}</span>'
            f' (ID {text("PatientID")}), study date {text("StudyDate")}; series '
            f'<span class="series-description">{text("SeriesDescription")}</span>.</p>')


def _training_html(model: dict) -> str:
    """The training data of each task, as list items."""
    e = html.escape
    data = model.get('training_data')
    if not data:
        return '<li>not recorded in the checkpoint</li>'
    items = []
    for task, what in (('seg', 'lesion segmentation'), ('cls', 'slice classifier')):
        info = data.get(task)
        if not info:
            items.append(f'<li>{what}: not trained in this run</li>')
            continue
        kind = {True: 'synthetic', False: 'real CT'}.get(info.get('synthetic'), 'not recorded')
        pixel = info.get('model_pixel_mm')
        items.append(f"<li>{what}: {e(str(info.get('name')))} ({kind}; "
                     f"{info.get('samples')} samples"
                     + (f'; {pixel:.3f} mm per model pixel' if pixel else '') + ')</li>')
    return ''.join(items)


def write_html(analysis, path: str, key_slices: int = 3,
               output_errors: Optional[Dict[str, str]] = None) -> None:
    """One self-contained page (images embedded): what the model is validated for,
    decision, every slice in a viewer (:mod:`~mmdet_covid.scan.slice_viewer`), burden,
    profile, key slices, warnings, the outputs that failed so far."""
    e = html.escape
    scan = analysis.scan
    if scan:
        probs = ''.join(f'<li>{e(c)}: {p:.1%}</li>' for c, p in scan['probabilities'].items())
        decision = (f"<p class='decision'>Scan class: <b>{e(scan['class'])}</b></p>"
                    f"<ul>{probs}</ul><p class='small'>{e(scan['rule'])}</p>")
    else:
        decision = '<p class="decision">No scan class: no slice with lung.</p>'
    lesion_px = np.array([r['lesion_pixels'] for r in analysis.slices])
    keys = [int(k) for k in np.argsort(-lesion_px, kind='stable')[:key_slices]
            if lesion_px[k] > 0]
    key_html = ''.join(f"<img src='data:image/png;base64,{_key_slice_figure(analysis, k)}'>"
                       for k in keys) or '<p>No lesion found.</p>'
    geometry = analysis.volume.geometry()
    ml = analysis.volume.voxel_ml is not None
    warn_html = ''.join(f'<li>{e(w)}</li>' for w in analysis.warnings) or '<li>none</li>'
    notices = ''.join(f'<p class="validation">{e(n)}</p>' for n in analysis.notices)
    failed = ''.join(f'<li>{e(err)}</li>' for err in (output_errors or {}).values())
    failed_html = (f'<h2>Outputs not written</h2><ul>{failed}</ul>' if failed else '')
    settings = analysis.settings
    counts = analysis.counts
    model = analysis.model
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Scan analysis: {e(analysis.volume.source)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1100px; }}
.notice {{ background: #fff3cd; border: 1px solid #e0c060; padding: .6em; }}
.validation {{ background: #f8d7da; border: 1px solid #d08080; padding: .6em;
font-weight: bold; }}
.decision {{ font-size: 1.4em; }} .small {{ font-size: .85em; color: #555; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #bbb; padding: 3px 8px;
text-align: right; }} td:first-child {{ text-align: left; }}
img {{ margin: 4px; }}
</style></head><body>
<h1>CT scan analysis</h1>
<p class="notice"><b>{e(RESEARCH_USE)}</b></p>
{notices}
<p>Input: <code>{e(analysis.volume.source)}</code> ({e(analysis.volume.kind)}),
{geometry['shape_slices_rows_columns'][0]} slices of
{geometry['shape_slices_rows_columns'][2]}x{geometry['shape_slices_rows_columns'][1]} pixels,
spacing (slice, row, column) {e(str(geometry['spacing_mm_slice_row_column']))} mm.
Analysed slices: {counts['analysed']} ({counts['skipped_no_lung']} without lung skipped).</p>
{_patient_html(analysis.volume.series)}
<h2>Decision</h2>{decision}
<h2>Slices</h2>
{viewer_html(analysis)}
<h2>Lesion burden</h2>
{_burden_table(analysis.burden, ml, burden_slices(analysis.lesion_labels, analysis.sides))}
<h2>Lobes</h2>
{_lobe_html(analysis.lobes, ml)}
<p class="small">Lesions: detections scored &ge; {settings['lesion_score_thr']:g}.
Ground glass: lesion voxels below {settings['consolidation_hu']:g} HU; consolidation: at or
above. Lung: classical mask (HU threshold {settings['lung_threshold_hu']:g}, connected
components, holes filled; not a trained lung model) plus the lesions found inside the
thoracic cavity ({counts['lesion_voxels_added_to_lung']} lesion voxels added). A detection
counts only when at least {settings['min_lung_share']:.0%} of its pixels lie within
{settings['lesion_margin_mm']:g} mm of the lung: {counts['detections_outside_lung']}
detection(s) lying mostly outside it were not counted. Zones: thirds of each lung's extent
along the body axis.</p>
<h2>Along the scan</h2>
<img src="data:image/png;base64,{_profile_figure(analysis)}">
<h2>Key slices (most lesion area)</h2>
<p class="small">Yellow: ground glass; red: consolidation; cyan: lung mask.</p>
{key_html}
<h2>Warnings</h2><ul>{warn_html}</ul>
{failed_html}
<h2>Provenance</h2>
<p class="small">Model config <code>{e(str(model['config']))}</code>, checkpoint
<code>{e(str(model['checkpoint']))}</code> (SHA-256 {e(str(model['checkpoint_sha256']))}),
mmdet-covid {e(__version__)}. Every number on this page is in <code>report.json</code>.
Trained on:</p><ul class="small">{_training_html(model)}</ul>
</body></html>
"""
    with open(path, 'w', encoding='utf-8') as f:
        f.write(page)
