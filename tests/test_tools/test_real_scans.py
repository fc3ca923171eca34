"""tools/analysis_tools/real_scans.py on a COVID-CT-MD-shaped folder of phantom series."""
import json
import os.path as osp
import shutil

import numpy as np

from tests.conftest import load_tool


def test_real_scans_writes_figures_per_patient_and_the_slice_auc(model_files, phantom_scans,
                                                                 tmp_path, capsys):
    real_scans = load_tool('analysis_tools/real_scans.py')

    data = tmp_path / 'covid_ct_md'
    for subject, cls in (('P001', 'COVID-19'), ('normal001', 'Normal')):
        shutil.copytree(osp.join(phantom_scans[cls][0], 'dicom'), data / subject)
    # the authors' label files: the COVID-19 patient's slices with lesion pixels, by
    # InstanceNumber (the phantom numbers its slices from the first, k + 1)
    (data / 'Index.csv').write_text('Label Index,Diagnosis,Relative Path,Folder/ID\n'
                                    '0,COVID-19,./COVID-19/,P001\n')
    infected = [int(v > 0) for v in phantom_scans['COVID-19'][1]['slice_lesion_pixels']]
    labels = np.zeros((1, 200), np.int32)
    labels[0, :len(infected)] = infected
    np.save(data / 'Slice-level-labels-updated-1.npy', labels)
    config, checkpoint = model_files
    real_scans.main([config, checkpoint, '--data', str(data), '--out', str(tmp_path / 'r.json'),
                     '--figure', str(tmp_path / 'r.png'), '--batch-size', '6'])
    assert 'patients are an anecdote' in capsys.readouterr().out
    out = json.loads((tmp_path / 'r.json').read_text())
    assert sorted(out['patients']) == ['P001', 'normal001']
    assert out['slices_pooled'] == 24 and out['infected_slices_pooled'] == sum(infected)
    assert 0 < sum(infected) < 12
    assert out['patients']['normal001']['true_class'] == 'Normal'
    assert out['checkpoint_training_data'] is None and osp.getsize(tmp_path / 'r.png') > 0
    assert 0.0 <= out['slice_auc_pooled'] <= 1.0  # infected and other slices both there
    for key in ('slice_sensitivity_pooled', 'slice_specificity_pooled'):
        assert 0.0 <= out[key] <= 1.0
    assert out['patients']['normal001']['slice_sensitivity'] is None  # no infected slice


def test_slice_rates_by_hand():
    slice_rates = load_tool('analysis_tools/real_scans.py').slice_rates

    rates = slice_rates([1, 1, 0, 0, 1], [1, 0, 0, 1, 1])
    assert rates == dict(slice_sensitivity=2 / 3, slice_specificity=1 / 2)
    assert slice_rates([0, 1], [0, 0])['slice_sensitivity'] is None
