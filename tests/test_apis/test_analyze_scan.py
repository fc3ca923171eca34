"""analyze_scan and its report on phantom scans, with a real (untrained) tiny SSM.

The weights are untrained: the test keeps every detection (score threshold 0) so that
lesions, their burden and their label volumes are exercised; what the figures are worth
is the trained model's business (README, `make demo`)."""
import csv
import json
import os
import os.path as osp
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np
import pydicom
import pytest

from mmdet_covid.apis import analyze_scan, init_ssm
from mmdet_covid.apis.scan_analysis import RESEARCH_USE
from mmdet_covid.datasets.ct_io import apply_window
from mmdet_covid.datasets.ct_volume import read_ct_volume
from mmdet_covid.scan.report import write_report


@pytest.fixture(scope='module')
def every_detection_model(model_files):
    config, checkpoint = model_files
    return init_ssm(config, checkpoint, cfg_options={'model.test_cfg.rcnn.score_thr': 0.0})


def test_dicom_scan_analysis_and_every_output(every_detection_model, model_files,
                                              phantom_scans, tmp_path):
    folder, truth = phantom_scans['COVID-19']
    analysis = analyze_scan(every_detection_model, osp.join(folder, 'dicom'), batch_size=5,
                            lesion_score_thr=0.0, checkpoint=model_files[1])
    labels = analysis.lesion_labels
    assert analysis.counts == dict(slices=12, analysed=12, skipped_no_lung=0,
                                   lesion_voxels_added_to_lung=analysis.counts[
                                       'lesion_voxels_added_to_lung'])
    total = analysis.burden['total']
    assert total['lesion_voxels'] == int((labels > 0).sum()) > 0
    assert total['consolidation_voxels'] == int((labels == 2).sum())
    assert ((labels > 0) <= (analysis.sides > 0)).all()  # every lesion voxel is in a lung
    assert total['lesion_ml'] == pytest.approx(total['lesion_voxels'] * truth['voxel_ml'])
    assert analysis.scan['analysed_slices'] == 12 and analysis.scan['class'] in (
        'Normal', 'CP', 'COVID-19')
    assert [r['name'] for r in analysis.slices] == truth['slice_files_in_order']
    assert analysis.model['checkpoint_sha256'] and analysis.model['config']

    paths = write_report(analysis, str(tmp_path / 'report'))
    report = json.loads(Path(paths['json']).read_text())
    assert report['notice'] == RESEARCH_USE and report['burden']['total'] == total
    assert report['input']['series']['uid'] and 'datasets' not in report['input']['series']
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


def test_nifti_input_and_a_slice_without_lung(every_detection_model, phantom_scans, tmp_path):
    folder, _ = phantom_scans['Normal']
    img = nib.load(osp.join(folder, 'scan_2.nii.gz'))
    data = np.asanyarray(img.dataobj).copy()
    data[:, :, 0] = 40  # slice 0: soft tissue only, no lung
    path = str(tmp_path / 'scan.nii.gz')
    nib.save(nib.Nifti1Image(data, img.affine), path)
    analysis = analyze_scan(every_detection_model, path, lesion_score_thr=0.0)
    assert analysis.counts['skipped_no_lung'] == 1 and analysis.counts['analysed'] == 11
    assert not analysis.slices[0]['analysed'] and 'probabilities' not in analysis.slices[0]
    assert any('1 of 12 slice(s) without lung' in w for w in analysis.warnings)
    paths = write_report(analysis, str(tmp_path / 'out'))
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
    analysis = analyze_scan(every_detection_model, str(images), lesion_score_thr=0.0)
    assert analysis.volume.spacing is None and 'lesion_ml' not in analysis.burden['total']
    assert analysis.slices[0]['z_mm'] is None and analysis.slices[0]['lesion_area_mm2'] is None
    paths = write_report(analysis, str(tmp_path / 'out'))
    assert json.loads(Path(paths['json']).read_text())['geometry']['physical_units'] is False
