"""tools/analyze_archive.py from the command line."""
import csv
import json
import os
import os.path as osp
import shutil

from tests.conftest import copy_series, load_tool

analyze_archive = load_tool('analyze_archive.py')
MARKUP = '=<b>P&1</b>'  # a formula to a spreadsheet, markup to a browser


def _archive(phantom_scans, root):
    covid, _ = phantom_scans['COVID-19']
    normal, _ = phantom_scans['Normal']
    copy_series(osp.join(covid, 'dicom'), str(root / 'site' / 'p1'), PatientID=MARKUP)
    copy_series(osp.join(normal, 'dicom'), str(root / 'site' / 'p2'), Modality='MR')
    shutil.copy(osp.join(normal, 'scan_2.nii.gz'), root / 'p3.nii.gz')
    return root


def _run(model_files, archive, out, *extra):
    config, checkpoint = model_files
    return analyze_archive.main([str(archive), config, checkpoint, '--out-dir', str(out),
                                 '--no-progress', '--lesion-score-thr', '0', '--cfg-options',
                                 'model.test_cfg.rcnn.score_thr=0.0', *extra])


def test_an_archive_gives_one_report_per_scan_and_a_summary(model_files, phantom_scans,
                                                            tmp_path, capsys):
    archive = _archive(phantom_scans, tmp_path / 'archive')
    out = tmp_path / 'out'
    assert _run(model_files, archive, out) == 1  # the MR series failed, the others did not
    printed = capsys.readouterr().out
    assert '3 scan(s): 2 analysed, 0 reused, 1 failed' in printed
    assert f'summary: {out / "index.html"}' in printed
    with open(out / 'summary.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [r['name'].split('-')[0] for r in rows] == ['p3', 'site__p1', 'site__p2']
    assert [r['status'] for r in rows] == ['done', 'done', 'failed']
    assert rows[1]['patient_id'] == "'" + MARKUP  # not run as a formula
    assert 'Modality MR' in rows[2]['reason'] and rows[2]['report'] == ''
    for row in rows[:2]:
        assert osp.isfile(out / row['report'])
        assert float(row['lesion_percent']) >= 0 and row['scan_class']
    page = (out / 'index.html').read_text()
    assert MARKUP not in page and '=&lt;b&gt;P&amp;1&lt;/b&gt;' in page
    assert page.count('<a href="series/') == 2 and 'Research use only' in page
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['counts'] == dict(done=2, skipped=0, failed=1)
    assert summary['run']['validation_notices']  # the untrained model saw no real CT
    assert not [n for n in os.listdir(out / 'series') if n.startswith('.')]  # no half reports

    assert _run(model_files, archive, out) == 1  # a rerun reuses the reports
    assert '3 scan(s): 0 analysed, 2 reused, 1 failed' in capsys.readouterr().out
    assert _run(model_files, archive, out, '--force') == 1
    assert '2 analysed, 0 reused' in capsys.readouterr().out


def test_bad_arguments_and_empty_archives_are_named(model_files, tmp_path, capsys):
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'empty' / 'a.txt').write_text('x')
    assert _run(model_files, tmp_path / 'empty', tmp_path / 'o') == 2
    assert 'no DICOM series and no NIfTI volume found (1 other file(s))' in \
        capsys.readouterr().err
    assert _run(model_files, tmp_path / 'empty', tmp_path / 'o', '--workers', '2') == 2
    assert '--workers and --ray-address need --engine ray' in capsys.readouterr().err
    assert _run(model_files, tmp_path / 'empty', tmp_path / 'empty' / 'o') == 2
    assert 'inside the input folder' in capsys.readouterr().err
    assert not (tmp_path / 'o').exists()
