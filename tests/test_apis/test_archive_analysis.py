"""An archive analysed with one model load: reports, reuse, failures, and Ray's actors
giving the same outputs as the local loop."""
import json
import os
import os.path as osp
import shutil

import nibabel as nib
import numpy as np
import pytest
import torch

from mmdet_covid.apis.archive_analysis import ArchiveAnalyser, analyse_local, analyse_ray
from mmdet_covid.io.archive_inputs import find_scans
from tests.conftest import copy_series

# every slice analysed and every detection a lesion, so that the untrained model's
# outputs reach every part of the report
SETTINGS = dict(batch_size=4, lesion_score_thr=0.0)
CFG = {'model.test_cfg.rcnn.score_thr': 0.0}


@pytest.fixture
def archive(phantom_scans, tmp_path):
    """Two good scans (a DICOM series, a NIfTI volume) and one MR series."""
    root = tmp_path / 'archive'
    covid, _ = phantom_scans['COVID-19']
    normal, _ = phantom_scans['Normal']
    shutil.copytree(osp.join(covid, 'dicom'), root / 'p1')
    os.makedirs(root / 'p2')
    shutil.copy(osp.join(normal, 'scan_2.nii.gz'), root / 'p2' / 'ct.nii.gz')
    copy_series(osp.join(normal, 'dicom'), str(root / 'p3'), Modality='MR')
    return root


def _analyser(model_files, out, **kwargs):
    config, checkpoint = model_files
    return ArchiveAnalyser(config, checkpoint, str(out), cfg_options=CFG,
                           **dict(SETTINGS, **kwargs))


def _stable(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != 'seconds'}


def test_reports_are_written_reused_and_redone(model_files, archive, tmp_path):
    jobs, _ = find_scans(str(archive))
    out = tmp_path / 'out'
    analyser = _analyser(model_files, out)
    rows = [analyser(job) for job in jobs]
    assert [r['status'] for r in rows] == ['done', 'done', 'failed']
    assert rows[2]['name'].startswith('p3-') and 'Modality MR; expected CT' in rows[2]['reason']
    assert not (out / 'series' / rows[2]['name']).exists()
    dicom = rows[0]
    report = json.loads((out / 'series' / dicom['name'] / 'report.json').read_text())
    assert report['archive']['job']['source'] == str(archive / 'p1')
    assert dicom['scan_class'] == report['scan']['class'] and dicom['slices'] == 12
    assert dicom['lesion'] == report['burden']['total']['lesion_ml'] and dicom['unit'] == 'ml'
    assert dicom['patient_id'] and dicom['report'] == f'series/{dicom["name"]}/report.html'
    assert sorted(os.listdir(out / 'series' / dicom['name'])) == [
        'lesions.nii.gz', 'lesions_seg.dcm', 'report.html', 'report.json', 'slices.csv']

    again = [analyser(job) for job in jobs]  # nothing changed: reused
    assert [r['status'] for r in again] == ['skipped', 'skipped', 'failed']
    for first, reused in zip(rows[:2], again):  # the same figures, from the reports
        assert _stable(reused) == dict(_stable(first), status='skipped', reason=reused['reason'])
    assert 'same input, config, checkpoint and settings' in again[0]['reason']
    os.utime(jobs[1].source, ns=(1, 1))  # the NIfTI changed: redone
    assert [analyser(job)['status'] for job in jobs[:2]] == ['skipped', 'done']
    other = _analyser(model_files, out, consolidation_hu=-200.0)  # another setting: redone
    assert other(jobs[0])['status'] == 'done'
    forced = _analyser(model_files, out, force=True, consolidation_hu=-200.0)
    assert forced(jobs[0])['status'] == 'done'


def test_unknown_settings_are_refused(model_files, tmp_path):
    with pytest.raises(TypeError, match=r"unknown settings \['score'\]"):
        _analyser(model_files, tmp_path, score=0.5)


def test_ray_actors_write_what_the_local_loop_writes(model_files, archive, tmp_path):
    pytest.importorskip('ray', reason='Ray is an extra: pip install -e ".[ray]" (make setup '
                                      'installs it)')
    jobs, _ = find_scans(str(archive))
    config, checkpoint = model_files
    args = dict(config=config, checkpoint=checkpoint, cfg_options=CFG, **SETTINGS)
    threads = torch.get_num_threads()
    try:  # one torch thread, as each actor has: the same float sums, the same numbers
        local = list(analyse_local(jobs, out_dir=str(tmp_path / 'local'), threads=1, **args))
    finally:
        torch.set_num_threads(threads)
    remote = list(analyse_ray(jobs, workers=2, cpus_per_worker=1,
                              out_dir=str(tmp_path / 'ray'), **args))
    assert sorted(map(json.dumps, map(_stable, remote))) == \
        sorted(map(json.dumps, map(_stable, local)))
    for row in local[:2]:
        a, b = (nib.load(str(tmp_path / engine / 'series' / row['name'] / 'lesions.nii.gz'))
                for engine in ('local', 'ray'))
        assert np.array_equal(a.get_fdata(), b.get_fdata())
        assert np.allclose(a.affine, b.affine)


def test_a_manifest_row_with_lobes_gets_a_severity_score(model_files, archive, phantom_scans,
                                                         tmp_path):
    from mmdet_covid.io.archive_inputs import read_manifest

    covid, _ = phantom_scans['COVID-19']
    manifest = archive / 'list.csv'
    manifest.write_text(f'path,lobes\np1,{osp.join(covid, "lobes.nii.gz")}\np2/ct.nii.gz,\n')
    jobs = read_manifest(str(manifest))
    rows = [_analyser(model_files, tmp_path / 'out')(job) for job in jobs]
    assert [r['status'] for r in rows] == ['done', 'done']
    assert 0 <= rows[0]['severity_score'] <= 25 and rows[1]['severity_score'] is None
    manifest.write_text('path,lobes\np1,p2/ct.nii.gz\n')  # HU, not labels
    row = _analyser(model_files, tmp_path / 'out2')(read_manifest(str(manifest))[0])
    assert row['status'] == 'failed' and 'expected labels from 0' in row['reason']


def test_a_report_json_that_cannot_be_written_is_a_failed_row(model_files, archive, tmp_path,
                                                              monkeypatch):
    """The row comes from the analysis, not from reading report.json back: a report.json
    that could not be written makes a failed row naming it, and the archive goes on."""
    from mmdet_covid.scan import report as report_module

    def refuse(obj, path, **kwargs):
        raise OSError(f'{path}: no space left on device')

    monkeypatch.setattr(report_module, 'atomic_write_json', refuse)
    jobs, _ = find_scans(str(archive))
    row = _analyser(model_files, tmp_path / 'out')(jobs[0])
    assert row['status'] == 'failed' and 'report.json' in row['reason']
    assert 'no space left on device' in row['reason'] and row['slices'] == 12
    assert row['report'] == f'series/{row["name"]}/report.html'  # the page was written
