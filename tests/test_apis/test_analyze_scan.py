"""analyze_scan and its report on phantom scans, with a real (untrained) tiny SSM.

The weights are untrained: the tests keep every detection (score threshold 0) so that
lesions, their burden and their label volumes are exercised; what the figures are worth
is the trained model's business (README, `make demo`)."""
import csv
import json
import os
import os.path as osp
import shutil
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np
import pydicom
import pytest

from mmdet_covid.apis import analyze_scan, init_ssm
from mmdet_covid.io.ct_io import apply_window
from mmdet_covid.io.output_folder import OutputFolderError
from mmdet_covid.io.scan_reader import read_ct_volume
from mmdet_covid.scan import report as report_module
from mmdet_covid.scan.report import RESEARCH_USE, write_report

PHANTOM = dict(name='mmdet-covid synthetic phantom (generator version 3)', synthetic=True,
               fov_mm=360.0, model_pixel_mm=360.0 / 128, ann_file='x.json', samples=10)


@pytest.fixture(scope='module')
def every_detection_model(model_files):
    config, checkpoint = model_files
    return init_ssm(config, checkpoint, cfg_options={'model.test_cfg.rcnn.score_thr': 0.0})


@pytest.fixture
def phantom_model(every_detection_model):
    """The tiny model as if trained on the phantom at 128x128 (2.8 mm per model pixel)."""
    every_detection_model.training_data = dict(seg=PHANTOM, cls=PHANTOM)
    yield every_detection_model
    every_detection_model.training_data = None


def _analyse(model, source, **kwargs):
    return analyze_scan(model, source, lesion_score_thr=0.0, min_lung_share=0.0, **kwargs)


def test_dicom_scan_analysis_and_every_output(every_detection_model, model_files,
                                              phantom_scans, tmp_path):
    folder, truth = phantom_scans['COVID-19']
    analysis = _analyse(every_detection_model, osp.join(folder, 'dicom'), batch_size=5,
                        checkpoint=model_files[1])
    labels = analysis.lesion_labels
    counts = analysis.counts
    assert (counts['slices'], counts['analysed'], counts['skipped_no_lung']) == (12, 12, 0)
    assert counts['detections_in_lung'] > 0
    total = analysis.burden['total']
    assert total['lesion_voxels'] == int((labels > 0).sum()) > 0
    assert total['consolidation_voxels'] == int((labels == 2).sum())
    assert ((labels > 0) <= (analysis.sides > 0)).all()  # every lesion voxel is in a lung
    assert total['lesion_ml'] == pytest.approx(total['lesion_voxels'] * truth['voxel_ml'])
    assert analysis.scan['analysed_slices'] == 12 and analysis.scan['class'] in (
        'Normal', 'CP', 'COVID-19')
    assert [r['name'] for r in analysis.slices] == truth['slice_files_in_order']
    assert analysis.model['checkpoint_sha256'] and analysis.model['config']

    paths, errors = write_report(analysis, str(tmp_path / 'report'))
    assert not errors and sorted(os.listdir(tmp_path)) == ['report']  # no staging left
    report = json.loads(Path(paths['json']).read_text())
    assert report['notice'] == RESEARCH_USE and report['burden']['total'] == total
    assert report['input']['series']['uid'] and 'datasets' not in report['input']['series']
    assert report['output_errors'] == {} and set(report['outputs']) == {
        'dicom_seg', 'csv', 'nifti', 'html', 'json'}
    with open(paths['csv']) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 and float(rows[0]['p_COVID-19']) >= 0
    # the label volume lies on the scan's geometry: reading it back gives the labels
    out = nib.load(paths['nifti'])
    np.testing.assert_allclose(out.affine, analysis.volume.affine, atol=1e-5)
    back = np.asanyarray(out.dataobj).transpose(2, 1, 0)
    np.testing.assert_array_equal(back, labels)
    # DICOM-SEG: references the source series, one frame per slice with a lesion
    seg = pydicom.dcmread(paths['dicom_seg'])
    assert seg.Modality == 'SEG'
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == analysis.volume.series['uid']
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ['ground-glass opacity',
                                                             'consolidation']
    page = Path(paths['html']).read_text(encoding='utf-8')
    assert RESEARCH_USE in page and page.count('data:image/png;base64,') >= 2
    assert 'src="http' not in page  # self-contained


def test_every_output_says_what_the_model_was_trained_on(phantom_model, phantom_scans,
                                                         tmp_path):
    folder, _ = phantom_scans['CP']
    analysis = _analyse(phantom_model, osp.join(folder, 'scan_1.nii.gz'))
    assert analysis.model['training_data']['seg']['synthetic'] is True
    assert len(analysis.notices) == 2 and all(
        'synthetic data, and never saw a real CT' in n and 'not validated on real CT' in n
        for n in analysis.notices)
    # the phantom at the model's own pixel size and input size: nothing resampled
    assert analysis.settings['model_grid']['identity'] is True
    paths, _ = write_report(analysis, str(tmp_path / 'out'))
    report = json.loads(Path(paths['json']).read_text())
    assert report['validation_notices'] == analysis.notices
    page = Path(paths['html']).read_text(encoding='utf-8')
    assert page.index('never saw a real CT') < page.index('<h2>Decision</h2>')
    assert 'mmdet-covid synthetic phantom (generator version 3) (synthetic; 10 samples' in page


def test_a_checkpoint_without_training_data_is_not_validated(every_detection_model,
                                                             phantom_scans):
    folder, _ = phantom_scans['CP']
    analysis = _analyse(every_detection_model, osp.join(folder, 'scan_1.nii.gz'))
    assert analysis.model['training_data'] is None
    assert len(analysis.notices) == 1
    assert 'does not record what it was trained on' in analysis.notices[0]
    assert analysis.settings['model_grid'] is None
    assert any('does not record the pixel size' in w for w in analysis.warnings)


def test_slices_are_resampled_to_the_model_pixel_size_and_back(phantom_model, phantom_scans,
                                                               tmp_path):
    """The same phantom at 0.70 mm pixels (512 px): resampled to the model's 2.8 mm and a
    128x128 canvas, its masks mapped back onto the 512x512 input."""
    from mmdet_covid.datasets.phantom import write_scan

    truth = write_scan(str(tmp_path), 'fine', 'COVID-19', n_slices=3, size=512, seed=3)
    analysis = _analyse(phantom_model, osp.join(tmp_path, 'fine', 'dicom'))
    grid = analysis.settings['model_grid']
    assert grid['identity'] is False and grid['canvas_rows_columns'] == [128, 128]
    assert grid['resampled_rows_columns'] == [128, 128]
    assert analysis.lesion_labels.shape == (3, 512, 512)
    assert any('resampled from 0.703 mm to 2.812 mm' in w for w in analysis.warnings)
    assert truth['spacing_mm_slice_row_column'][1] == pytest.approx(360 / 512)


def test_the_canvas_fits_the_lungs(phantom_model, tmp_path):
    """With fit_margin_mm the model sees the box of the lungs and 16 mm around it, on a
    canvas of multiples of 32 pixels no larger than its input size; the masks come back
    on the input's pixels."""
    from mmdet_covid.datasets.phantom import write_scan

    # 256 mm across: resampled to 91 model pixels of 2.8 mm, padded on the full canvas
    write_scan(str(tmp_path), 'small', 'COVID-19', n_slices=4, size=256, seed=3, pixel_mm=1.0)
    analysis = _analyse(phantom_model, osp.join(tmp_path, 'small', 'dicom'), fit_margin_mm=16.0)
    grid = analysis.settings['model_grid']
    assert analysis.settings['fit_margin_mm'] == 16.0
    height, width = grid['canvas_rows_columns']
    assert height % 32 == 0 and width % 32 == 0 and max(height, width) <= 128
    assert height * width < 128 * 128
    # the lungs and the margin lie on the canvas (model pixels: 2.8 mm)
    lungs = np.argwhere(analysis.sides.any(axis=0) > 0)
    factor = 1.0 / (360.0 / 128)
    (y0, x0), (y1, x1) = lungs.min(axis=0) * factor, (lungs.max(axis=0) + 1) * factor
    top, left = grid['offset_rows_columns']
    margin = 16.0 / (360.0 / 128)
    assert top <= y0 - margin + 1 and left <= x0 - margin + 1
    assert y1 + margin - 1 <= top + height and x1 + margin - 1 <= left + width
    assert analysis.lesion_labels.shape == (4, 256, 256)
    assert not any('not seen by the model' in w for w in analysis.warnings)


def test_lesions_streamed_are_those_of_every_detection(every_detection_model, phantom_scans):
    """The lesion volume filled batch by batch, with the model asked for the detections
    from the lesion threshold only, holds the same pixels as the model's every
    detection filtered afterwards."""
    from mmdet_covid.apis.scan_analysis import predict_slices
    from mmdet_covid.scan import lung_mask
    from mmdet_covid.scan.lesion_placement import (CAVITY_REACH_MM, lung_lesions,
                                                   margin_pixels, near_lung,
                                                   thoracic_cavity)

    folder, _ = phantom_scans['COVID-19']
    volume = read_ct_volume(osp.join(folder, 'dicom'))
    sides, _ = lung_mask(volume.hu, volume.spacing)
    radius = margin_pixels(volume.spacing, volume.hu.shape[2], 3.0)
    near = near_lung(sides, radius)
    cavity = thoracic_cavity(sides, radius, margin_pixels(
        volume.spacing, volume.hu.shape[2], CAVITY_REACH_MM))
    analysed = np.flatnonzero((sides > 0).any(axis=(1, 2)))
    every = [(k, sample.pred_instances.scores.numpy(), masks)
             for k, sample, masks in predict_slices(every_detection_model, volume, analysed,
                                                    2, None, False)]
    thr = float(np.median(np.concatenate([scores for _, scores, _ in every])))
    expected = np.zeros(volume.hu.shape, bool)
    for k, scores, masks in every:
        expected[k] = lung_lesions(masks[scores >= thr], near[k], cavity[k], 0.5)[0]
    assert 0 < expected.sum() < sum(m.any(axis=0).sum() for _, _, m in every)
    analysis = analyze_scan(every_detection_model, volume, batch_size=3,
                            lesion_score_thr=thr, min_lung_share=0.5)
    assert np.array_equal(analysis.lesion_labels > 0, expected)
    # the model's own threshold is back
    assert every_detection_model.roi_head.test_cfg.score_thr == 0.0


def test_nifti_input_and_a_slice_without_lung(every_detection_model, phantom_scans, tmp_path):
    folder, _ = phantom_scans['Normal']
    img = nib.load(osp.join(folder, 'scan_2.nii.gz'))
    data = np.asanyarray(img.dataobj).copy()
    data[:, :, 0] = 40  # slice 0: soft tissue only, no lung
    path = str(tmp_path / 'scan.nii.gz')
    nib.save(nib.Nifti1Image(data, img.affine), path)
    analysis = _analyse(every_detection_model, path)
    assert analysis.counts['skipped_no_lung'] == 1 and analysis.counts['analysed'] == 11
    assert not analysis.slices[0]['analysed'] and 'probabilities' not in analysis.slices[0]
    assert any('1 of 12 slice(s) without lung' in w for w in analysis.warnings)
    paths, _ = write_report(analysis, str(tmp_path / 'out'))
    assert 'dicom_seg' not in paths
    out = nib.load(paths['nifti'])
    np.testing.assert_allclose(out.affine, img.affine)
    assert out.shape == img.shape


def test_folder_of_images_has_no_physical_units(every_detection_model, phantom_scans,
                                                tmp_path):
    folder, _ = phantom_scans['CP']
    vol = read_ct_volume(osp.join(folder, 'dicom'))
    images = tmp_path / 'slices'
    os.makedirs(images)
    for k in range(4):
        cv2.imwrite(str(images / f'{k}.png'), apply_window(vol.hu[k]))
    analysis = _analyse(every_detection_model, str(images))
    assert analysis.volume.spacing is None and 'lesion_ml' not in analysis.burden['total']
    assert analysis.slices[0]['z_mm'] is None and analysis.slices[0]['lesion_area_mm2'] is None
    paths, _ = write_report(analysis, str(tmp_path / 'out'))
    assert json.loads(Path(paths['json']).read_text())['geometry']['physical_units'] is False


def _anonymise(src: str, dst: Path, rename=None) -> None:
    """Copy a series without the type-2 patient and study attributes anonymisers drop."""
    os.makedirs(dst)
    for name in os.listdir(src):
        ds = pydicom.dcmread(osp.join(src, name))
        for key in ('PatientName', 'PatientBirthDate', 'PatientSex', 'StudyDate',
                    'StudyTime', 'AccessionNumber', 'ReferringPhysicianName', 'StudyID'):
            if key in ds:
                delattr(ds, key)
        ds.PatientID = ''
        ds.save_as(dst / (rename(name) if rename else name))


def test_an_anonymised_series_gets_every_output_dicom_seg_included(every_detection_model,
                                                                   phantom_scans, tmp_path):
    folder, _ = phantom_scans['COVID-19']
    _anonymise(osp.join(folder, 'dicom'), tmp_path / 'anon')
    analysis = _analyse(every_detection_model, str(tmp_path / 'anon'))
    paths, errors = write_report(analysis, str(tmp_path / 'out'))
    assert not errors and 'dicom_seg' in paths
    seg = pydicom.dcmread(paths['dicom_seg'])
    assert str(seg.PatientName) == '' and seg.PatientBirthDate == '' and seg.StudyDate == ''
    assert seg.StudyInstanceUID == analysis.volume.series['study_uid']


def test_input_names_reach_no_spreadsheet_formula_and_no_mathtext(every_detection_model,
                                                                  phantom_scans, tmp_path):
    folder, _ = phantom_scans['COVID-19']
    _anonymise(osp.join(folder, 'dicom'), tmp_path / 'odd',
               rename=lambda name: '=HYPERLINK("x")$\\alpha_{' + name)
    analysis = _analyse(every_detection_model, str(tmp_path / 'odd'))
    paths, errors = write_report(analysis, str(tmp_path / 'out'))
    assert not errors  # the key slices' titles were drawn (as text)
    with open(paths['csv'], encoding='utf-8') as f:
        names = [row['name'] for row in csv.DictReader(f)]
    assert all(n.startswith("'=HYPERLINK(") for n in names)
    # the key slices were drawn, their titles as text ('$\\alpha_{' is bad mathtext)
    page = Path(paths['html']).read_text()
    assert page.count("src='data:image/png;base64,") + \
        page.count('src="data:image/png;base64,') == 4  # the profile and 3 key slices


def test_one_output_that_fails_leaves_the_others(every_detection_model, phantom_scans,
                                                 tmp_path, monkeypatch):
    folder, _ = phantom_scans['CP']
    analysis = _analyse(every_detection_model, osp.join(folder, 'dicom'))

    def broken(analysis, path):
        with open(path, 'wb') as f:
            f.write(b'half a file')
        raise RuntimeError('disk full')

    monkeypatch.setattr(report_module, 'write_dicom_seg', broken)
    paths, errors = write_report(analysis, str(tmp_path / 'out'))
    assert errors == {'dicom_seg': 'lesions_seg.dcm: RuntimeError: disk full'}
    assert sorted(os.listdir(tmp_path / 'out')) == ['lesions.nii.gz', 'report.html',
                                                    'report.json', 'slices.csv']
    report = json.loads((tmp_path / 'out' / 'report.json').read_text())
    assert report['output_errors'] == errors and 'dicom_seg' not in report['outputs']
    assert 'Outputs not written' in (tmp_path / 'out' / 'report.html').read_text()


def test_the_output_folder_is_replaced_whole_or_not_at_all(every_detection_model,
                                                           phantom_scans, tmp_path,
                                                           monkeypatch):
    folder, _ = phantom_scans['Normal']
    source = osp.join(folder, 'scan_2.nii.gz')
    analysis = _analyse(every_detection_model, source)
    out = tmp_path / 'out'
    write_report(analysis, str(out))
    (out / 'stale.txt').write_text('from an earlier run')
    with pytest.raises(OutputFolderError, match='holds an earlier report.*--overwrite'):
        write_report(analysis, str(out))
    first = (out / 'report.json').read_text()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the run is stopped while the report is written

    monkeypatch.setattr(report_module, 'write_html', killed)
    with pytest.raises(KeyboardInterrupt):
        write_report(analysis, str(out), overwrite=True)
    assert (out / 'report.json').read_text() == first and (out / 'stale.txt').exists()
    assert sorted(os.listdir(tmp_path)) == ['out']  # the staged folder is gone
    monkeypatch.undo()
    write_report(analysis, str(out), overwrite=True)
    assert not (out / 'stale.txt').exists()  # replaced whole: nothing of the old report


def test_an_output_folder_inside_the_input_or_holding_it_is_refused(every_detection_model,
                                                                    phantom_scans, tmp_path):
    folder, _ = phantom_scans['CP']
    series = tmp_path / 'series'
    shutil.copytree(osp.join(folder, 'dicom'), series)
    analysis = _analyse(every_detection_model, str(series))
    for out in (series, series / 'report'):
        with pytest.raises(OutputFolderError, match='is or lies inside the input folder'):
            write_report(analysis, str(out), overwrite=True)
    nifti = tmp_path / 'lesions.nii.gz'  # an input named like an output, in the out dir
    shutil.copy(osp.join(folder, 'scan_1.nii.gz'), nifti)
    analysis = _analyse(every_detection_model, str(nifti))
    with pytest.raises(OutputFolderError, match='holds the input'):
        write_report(analysis, str(tmp_path), overwrite=True)
    assert nifti.exists()
