"""The scan tool on three real hospital series (COVID-CT-MD, JPEG Lossless, anonymised):
analysed to the end with every output, DICOM-SEG included; the lung mask on real anatomy
within 2% of the volumes checked by eye (docs/real_data.md); no chest wall, fat or abdomen
counted as lung, even from a model whose detections land everywhere: what it adds to the
lung lies in the thoracic cavity, within 10 mm of the lung mask (3-6% of the lung for
this worst case; the phantom-trained model adds 0-1%, docs/real_data.md)."""
import json
import os
import os.path as osp

import numpy as np
import pydicom
import pytest
from scipy import ndimage

from mmdet_covid.apis import analyze_scan, init_ssm
from mmdet_covid.scan import lung_mask
from mmdet_covid.scan.lesion_placement import CAVITY_REACH_MM
from mmdet_covid.scan.report import write_report

# The classical lung mask's volume (mL) of each series, checked by eye on the pictures of
# docs/real_data.md: table, trachea above the carina, stomach and bowel gas, and the
# domes of the liver, spleen and stomach that the lung bases surround, left out.
LUNG_ML = {'P001': 6103.0, 'cap001': 5938.0, 'normal001': 3440.0}


@pytest.fixture(scope='module')
def everywhere_model(model_files):
    """The untrained tiny SSM keeping every detection: boxes all over each slice."""
    config, checkpoint = model_files
    return init_ssm(config, checkpoint, cfg_options={'model.test_cfg.rcnn.score_thr': 0.0})


@pytest.mark.parametrize('subject', sorted(LUNG_ML))
def test_a_real_series_is_analysed_to_the_end_with_every_output(covid_ct_md, everywhere_model,
                                                                model_files, subject,
                                                                tmp_path):
    analysis = analyze_scan(everywhere_model, osp.join(covid_ct_md, subject), batch_size=8,
                            lesion_score_thr=0.0, checkpoint=model_files[1])
    counts = analysis.counts
    assert counts['analysed'] > 100 and counts['detections_outside_lung'] > 0
    mask_only = lung_mask(analysis.volume.hu, analysis.volume.spacing)[0] > 0
    assert mask_only.sum() * analysis.volume.voxel_ml == pytest.approx(LUNG_ML[subject],
                                                                       rel=0.02)
    added = (analysis.sides > 0) & ~mask_only
    assert added.sum() == counts['lesion_voxels_added_to_lung']
    # nothing added beyond the cavity's reach from the lung (10 mm): no chest wall
    far = np.stack([ndimage.distance_transform_edt(~m) for m in mask_only])
    assert far[added].max() * analysis.volume.spacing[2] <= CAVITY_REACH_MM + 1
    assert analysis.burden['total']['lung_ml'] < LUNG_ML[subject] * 1.1
    paths, errors = write_report(analysis, str(tmp_path / 'report'))
    assert not errors and sorted(os.listdir(tmp_path / 'report')) == [
        'lesions.nii.gz', 'lesions_seg.dcm', 'report.html', 'report.json', 'slices.csv']
    seg = pydicom.dcmread(paths['dicom_seg'])
    assert seg.Modality == 'SEG' and str(seg.PatientName) == ''  # anonymised source
    report = json.loads(open(paths['json']).read())
    assert report['input']['series']['n_slices'] == counts['slices']
    assert 'does not record what it was trained on' in report['validation_notices'][0]
