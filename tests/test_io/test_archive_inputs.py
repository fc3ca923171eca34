"""The scans of an archive: DICOM series by UID in a folder tree, NIfTI volumes, manifests."""
import os
import os.path as osp
import shutil

import pytest
from pydicom.uid import generate_uid

from mmdet_covid.io.archive_inputs import (ArchiveInputError, ScanJob, archive_scans,
                                           find_scans, output_name, read_manifest)
from tests.conftest import copy_series


def test_output_names_trace_back_to_the_input():
    assert output_name('site_a/patient 7/ct.nii.gz', None) == 'site_a__patient_7__ct'
    assert output_name('p1/scan.nii', None) == 'p1__scan'
    named = output_name('p1/dicom', '1.2.840.113619.2.55')
    assert named.startswith('p1__dicom-') and len(named) == len('p1__dicom-') + 8
    assert output_name('p1/dicom', '1.2.3') != output_name('p1/dicom', '1.2.4')
    assert output_name('.', '1.2.3').startswith('root-')
    assert '..' not in output_name('../x/..hidden', None)


@pytest.fixture
def archive(phantom_scans, tmp_path):
    """An archive: a folder holding two series (12 and 6 slices), a series spread over
    two sub-folders, a NIfTI volume, a stray note."""
    root = tmp_path / 'archive'
    covid, _ = phantom_scans['COVID-19']
    cp, cp_truth = phantom_scans['CP']
    shutil.copytree(osp.join(covid, 'dicom'), root / 'p1' / 'study')
    copy_series(osp.join(cp, 'dicom'), str(root / 'p1' / 'study'),
                SeriesInstanceUID='1.2.3.4.5', PatientID='P1',
                SOPInstanceUID=lambda ds: generate_uid())
    for name in cp_truth['slice_files_in_order'][6:]:
        os.remove(root / 'p1' / 'study' / name)
    normal, normal_truth = phantom_scans['Normal']
    names = normal_truth['slice_files_in_order']
    for i, name in enumerate(names):  # one series in two folders
        os.makedirs(root / 'p2' / f'part{i % 2}', exist_ok=True)
        shutil.copy(osp.join(normal, 'dicom', name), root / 'p2' / f'part{i % 2}' / name)
    os.makedirs(root / 'p3')
    shutil.copy(osp.join(covid, 'scan_0.nii.gz'), root / 'p3' / 'ct.nii.gz')
    (root / 'notes.txt').write_text('not a scan')
    return root


def test_find_scans_takes_every_series_and_volume_and_counts_the_rest(archive):
    jobs, skipped = find_scans(str(archive))
    by_name = {j.name: j for j in jobs}
    assert len(jobs) == 4
    assert {name.split('-')[0] for name in by_name} == {'p1__study', 'p2', 'p3__ct'}
    study = [j for j in jobs if j.name.startswith('p1__study')]
    assert sorted(len(j.files) for j in study) == [6, 12]
    assert {j.series_uid for j in study} >= {'1.2.3.4.5'}
    assert [j.patient_id for j in study if j.series_uid == '1.2.3.4.5'] == ['P1']
    spread = [j for j in jobs if j.name.startswith('p2')][0]
    assert spread.source == str(archive / 'p2') and len(spread.files) == 12
    nifti = by_name['p3__ct']
    assert nifti.series_uid is None and nifti.source == str(archive / 'p3' / 'ct.nii.gz')
    assert list(skipped) == [str(archive / 'notes.txt')]
    assert 'another format' in skipped[str(archive / 'notes.txt')]
    assert ScanJob.from_dict(nifti.to_dict()) == nifti


def test_the_fingerprint_follows_the_files(archive):
    jobs, _ = find_scans(str(archive))
    job = [j for j in jobs if j.name == 'p3__ct'][0]
    before = job.fingerprint()
    assert job.fingerprint() == before
    os.utime(job.source, ns=(0, 0))
    assert job.fingerprint() != before


def test_a_manifest_gives_its_rows_in_order(archive, tmp_path):
    manifest = archive / 'list.csv'
    manifest.write_text('path,series_uid,patient_id\n'
                        'p3/ct.nii.gz,,ANON-3\n'
                        'p1/study,1.2.3.4.5,\n')
    jobs, skipped = archive_scans(str(manifest))
    assert skipped == {}
    assert [j.name for j in jobs] == ['p3__ct', output_name('p1/study', '1.2.3.4.5')]
    assert jobs[0].patient_id == 'ANON-3' and jobs[1].patient_id is None
    assert jobs[1].source == str(archive / 'p1' / 'study') and len(jobs[1].files) == 18


@pytest.mark.parametrize('text, match', [
    ('', 'no rows'),
    ('file,uid\nx,y\n', r'line 1: columns .*expected path.*unknown'),
    ('path\np3/ct.nii.gz\n\n,\n', r'line 4: empty path'),  # blank lines count
    ('path\np3/ct.nii.gz\np9\n', r'line 3: .*p9 does not exist'),
    ('path\nnotes.txt\n', r'line 2: .*notes.txt is a file but not a NIfTI'),
    ('path,series_uid\np3/ct.nii.gz,1.2\n', r'line 2: series_uid 1.2 given for the NIfTI'),
    ('path,lobes\np1/study,notes.txt\n', r'line 2: lobes .*notes.txt is not a NIfTI'),
    ('path\np1/study\np1/study\n', r'both would be written to the output folder'),
])
def test_a_bad_manifest_names_the_line(archive, text, match):
    manifest = archive / 'list.csv'
    manifest.write_text(text)
    with pytest.raises(ArchiveInputError, match=match):
        read_manifest(str(manifest))


def test_neither_a_folder_nor_a_manifest(tmp_path):
    (tmp_path / 'x.json').write_text('{}')
    with pytest.raises(ArchiveInputError, match='not a CSV manifest'):
        archive_scans(str(tmp_path / 'x.json'))
    with pytest.raises(ArchiveInputError, match='not a folder'):
        archive_scans(str(tmp_path / 'missing'))
