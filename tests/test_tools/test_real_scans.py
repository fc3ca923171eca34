"""tools/analysis_tools/real_scans.py on a COVID-CT-MD-shaped folder of phantom series."""
import csv
import json
import os.path as osp
import shutil


def test_real_scans_writes_figures_per_patient_and_the_slice_auc(model_files, phantom_scans,
                                                                 tmp_path, capsys):
    from analysis_tools import real_scans

    data = tmp_path / 'covid_ct_md'
    rows = []
    for subject, cls in (('c1', 'COVID-19'), ('n1', 'Normal')):
        folder, truth = phantom_scans[cls]
        shutil.copytree(osp.join(folder, 'dicom'), data / subject)
        for k, name in enumerate(truth['slice_files_in_order']):
            rows.append(dict(**{'class': cls}, subject=subject, file=name,
                             infected=int(cls != 'Normal' and truth['slice_lesion_pixels'][k]
                                          > 0)))
    with open(data / 'slice_labels.csv', 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=['class', 'subject', 'file', 'infected'])
        writer.writeheader()
        writer.writerows(rows)
    config, checkpoint = model_files
    real_scans.main([config, checkpoint, '--data', str(data), '--out', str(tmp_path / 'r.json'),
                     '--figure', str(tmp_path / 'r.png'), '--batch-size', '6'])
    assert 'patients are an anecdote' in capsys.readouterr().out
    out = json.loads((tmp_path / 'r.json').read_text())
    assert sorted(out['patients']) == ['c1', 'n1']
    assert out['slices_pooled'] == 24 and out['infected_slices_pooled'] == sum(
        r['infected'] for r in rows)
    assert out['patients']['n1']['true_class'] == 'Normal'
    assert out['checkpoint_training_data'] is None and osp.getsize(tmp_path / 'r.png') > 0
    assert 0.0 <= out['slice_auc_pooled'] <= 1.0  # infected and other slices both there
