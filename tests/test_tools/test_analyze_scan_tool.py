"""tools/analyze_scan.py and tools/make_phantom_scan.py from the command line."""
import json
import os
import os.path as osp

import pydicom

from tests.conftest import load_tool

analyze_scan = load_tool('analyze_scan.py')
make_phantom_scan = load_tool('make_phantom_scan.py')


def test_analyze_scan_writes_the_report_and_prints_the_decision(model_files, phantom_scans,
                                                               tmp_path, capsys):
    config, checkpoint = model_files
    folder, _ = phantom_scans['CP']
    out = tmp_path / 'report'
    code = analyze_scan.main([config, checkpoint, osp.join(folder, 'dicom'), '--out-dir',
                              str(out), '--batch-size', '3', '--no-progress',
                              '--lesion-score-thr', '0', '--cfg-options',
                              'model.test_cfg.rcnn.score_thr=0.0'])
    printed = capsys.readouterr().out
    assert code == 0
    assert '12 slices, 12 analysed, 0 without lung' in printed
    assert 'scan class: ' in printed and ' mL of ' in printed
    assert f'report: {out / "report.html"}' in printed and 'not a medical device' in printed
    assert sorted(os.listdir(out)) == ['lesions.nii.gz', 'lesions_seg.dcm', 'report.html',
                                       'report.json', 'slices.csv']
    report = json.loads((out / 'report.json').read_text())
    assert report['settings']['batch_size'] == 3 and report['settings']['lesion_score_thr'] == 0
    assert report['model']['checkpoint'] == checkpoint


def test_analyze_scan_names_what_it_cannot_read(model_files, phantom_scans, tmp_path, capsys):
    config, checkpoint = model_files
    missing = str(tmp_path / 'nowhere')
    assert analyze_scan.main([config, checkpoint, missing, '--out-dir', str(tmp_path / 'o'),
                              '--no-progress']) == 2
    assert f'error: {missing}: does not exist' in capsys.readouterr().err
    # the input is read before the model is loaded: a bad input is named even when the
    # checkpoint does not exist either
    assert analyze_scan.main([config, str(tmp_path / 'no.pth'), missing, '--out-dir',
                              str(tmp_path / 'o'), '--no-progress']) == 2
    assert f'error: {missing}: does not exist' in capsys.readouterr().err
    folder, truth = phantom_scans['Normal']
    mr = tmp_path / 'mr'
    os.makedirs(mr)
    for name in truth['slice_files_in_order']:
        ds = pydicom.dcmread(osp.join(folder, 'dicom', name))
        ds.Modality = 'MR'
        ds.save_as(mr / name)
    assert analyze_scan.main([config, checkpoint, str(mr), '--out-dir', str(tmp_path / 'o'),
                              '--no-progress']) == 2
    assert 'Modality MR; expected CT' in capsys.readouterr().err
    assert not (tmp_path / 'o').exists()


def test_make_phantom_scan_command(tmp_path, capsys):
    make_phantom_scan.main(['--out', str(tmp_path), '--scans', '2', '--slices', '3',
                            '--size', '64'])
    printed = capsys.readouterr().out
    assert 'scan_000_COVID19: COVID-19, 3 slices' in printed and 'scan_001_CP: CP' in printed
    truth = json.loads((tmp_path / 'scan_001_CP' / 'truth.json').read_text())
    assert len(os.listdir(tmp_path / 'scan_001_CP' / 'dicom')) == 3
    assert truth['voxels']['lesion'] == sum(truth['slice_lesion_pixels'])
    assert truth['voxels']['right_lung'] + truth['voxels']['left_lung'] == truth['voxels']['lung']


def test_arguments_and_the_output_folder_are_checked_before_the_model(model_files,
                                                                     phantom_scans, tmp_path,
                                                                     capsys):
    config, checkpoint = model_files
    folder, _ = phantom_scans['CP']
    series = osp.join(folder, 'dicom')
    missing = str(tmp_path / 'missing.pth')  # never loaded: each run stops before
    for extra, message in (
            (['--batch-size', '0'], '--batch-size 0: expected at least 1'),
            (['--lesion-score-thr', '1.5'], '--lesion-score-thr 1.5: expected a score'),
            (['--out-dir', osp.join(series, 'report')], 'is or lies inside the input folder'),
            ([], f'checkpoint {missing}: no such file')):
        argv = [config, missing, series, '--out-dir', str(tmp_path / 'o'), '--no-progress']
        assert analyze_scan.main(argv + extra) == 2, extra
        assert message in capsys.readouterr().err
    assert not (tmp_path / 'o').exists()
    out = tmp_path / 'report'
    argv = [config, checkpoint, series, '--out-dir', str(out), '--no-progress']
    assert analyze_scan.main(argv) == 0
    printed = capsys.readouterr().out
    assert 'NOT VALIDATED: The checkpoint does not record what it was trained on' in printed
    assert analyze_scan.main(argv) == 2  # an earlier report: kept unless --overwrite
    assert 'holds an earlier report (report.json); --overwrite' in capsys.readouterr().err
    assert analyze_scan.main(argv + ['--overwrite']) == 0


def test_exit_status_says_when_an_output_failed_or_nothing_was_analysed(
        model_files, phantom_scans, tmp_path, capsys, monkeypatch):
    import nibabel as nib
    import numpy as np

    from mmdet_covid.scan import report

    config, checkpoint = model_files
    folder, _ = phantom_scans['CP']

    def broken(analysis, path):
        raise OSError('no space left on device')

    monkeypatch.setattr(report, 'write_dicom_seg', broken)
    out = tmp_path / 'partial'
    assert analyze_scan.main([config, checkpoint, osp.join(folder, 'dicom'), '--out-dir',
                              str(out), '--no-progress']) == 3
    captured = capsys.readouterr()
    assert 'error: not written: lesions_seg.dcm: OSError: no space left on device' in captured.err
    assert sorted(os.listdir(out)) == ['lesions.nii.gz', 'report.html', 'report.json',
                                       'slices.csv']
    body = np.full((64, 64, 4), -1000, np.int16)  # room air around a body without lungs
    body[12:52, 16:48] = 40
    lungless = tmp_path / 'lungless.nii.gz'
    nib.save(nib.Nifti1Image(body, np.diag([2.0, 2.0, 5.0, 1.0])), lungless)
    assert analyze_scan.main([config, checkpoint, str(lungless), '--out-dir',
                              str(tmp_path / 'none'), '--no-progress']) == 1
    assert '0 analysed' in capsys.readouterr().out
    report_json = json.loads((tmp_path / 'none' / 'report.json').read_text())
    assert report_json['scan'] is None


def test_lobes_give_the_burden_per_lobe_and_the_severity_score(model_files, phantom_scans,
                                                               tmp_path, capsys):
    config, checkpoint = model_files
    folder, _ = phantom_scans['COVID-19']
    args = [config, checkpoint, osp.join(folder, 'dicom'), '--no-progress',
            '--lesion-score-thr', '0', '--cfg-options', 'model.test_cfg.rcnn.score_thr=0.0']
    assert analyze_scan.main(args + ['--out-dir', str(tmp_path / 'a'), '--lobes',
                                     osp.join(folder, 'lobes.nii.gz')]) == 0
    assert 'CT severity score: ' in capsys.readouterr().out
    report = json.loads((tmp_path / 'a' / 'report.json').read_text())
    lobes = report['lobes']
    assert lobes['convention'] == 'lungmask' and 0 <= lobes['severity_score'] <= 25
    assert lobes['severity_score'] == sum(r['score'] for r in lobes['lobes'].values())
    assert 'lobes.csv' in os.listdir(tmp_path / 'a')
    assert 'CT severity score' in (tmp_path / 'a' / 'report.html').read_text()

    assert analyze_scan.main(args + ['--out-dir', str(tmp_path / 'b')]) == 0
    report = json.loads((tmp_path / 'b' / 'report.json').read_text())
    assert report['lobes']['severity_score'] is None
    assert 'no CT severity score' in report['lobes']['note']
    assert 'lobes.csv' not in os.listdir(tmp_path / 'b')
    assert 'no lobe labels given' in (tmp_path / 'b' / 'report.html').read_text()

    assert analyze_scan.main(args + ['--out-dir', str(tmp_path / 'c'), '--lobe-labels',
                                     '1:LUL']) == 2
    assert '--lobe-labels needs --lobes' in capsys.readouterr().err
    assert not (tmp_path / 'c').exists()
