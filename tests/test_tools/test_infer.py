"""tools/infer.py: every readable slice is processed, every unreadable one is
reported, outputs never overwrite each other, rows are written as they come."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from tests.conftest import load_tool

infer = load_tool('infer.py')


@pytest.fixture
def inputs(tmp_path):
    """Two folders with the same file name, a zero-byte and a text file, a
    CNCB-style <scan>/<frame> tree and a 3-slice NIfTI volume."""
    import nibabel as nib

    rng = np.random.default_rng(0)

    def png(path):
        os.makedirs(osp.dirname(path), exist_ok=True)
        cv2.imwrite(str(path), rng.integers(0, 255, (64, 64), dtype=np.uint8))

    png(tmp_path / 'a' / 'x.png')
    png(tmp_path / 'b' / 'x.png')
    (tmp_path / 'a' / 'empty.png').write_bytes(b'')
    (tmp_path / 'a' / 'notes.txt').write_text('not an image')
    for scan in ('scan_1', 'scan_2'):
        png(tmp_path / 'cncb' / scan / '0001.png')
    vol = (rng.normal(-600, 200, (64, 64, 3))).astype(np.int16)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(tmp_path / 'vol.nii.gz'))
    return [str(tmp_path / p) for p in ('a', 'b', 'cncb', 'vol.nii.gz')]


def _infer(model_files, *args):
    config, checkpoint = model_files
    return infer.main([config, checkpoint, *args])


def test_bad_files_are_reported_and_the_good_ones_kept(model_files, inputs, tmp_path,
                                                       capsys):
    out = str(tmp_path / 'rows.jsonl')
    overlays = str(tmp_path / 'overlays')
    assert _infer(model_files, *inputs, '--out', out, '--out-dir', overlays,
                  '--batch-size', '2') == 0
    printed = capsys.readouterr()
    good = ['a/x.png', 'b/x.png', 'cncb/scan_1/0001.png', 'cncb/scan_2/0001.png',
            *[f'{inputs[3]}:{z}' for z in range(3)]]
    for name in good:
        assert name in printed.out, name
    assert 'a/empty.png' in printed.err and 'empty file' in printed.err
    assert 'a/notes.txt' in printed.err
    assert '7 slice(s) processed, 2 unreadable' in printed.out

    rows = [json.loads(line) for line in open(out)]
    assert sorted(r['slice'] for r in rows if 'error' not in r) == sorted(good)
    assert sorted(r['slice'] for r in rows if 'error' in r) == ['a/empty.png', 'a/notes.txt']
    assert all(abs(sum(r['probabilities'].values()) - 1) < 1e-5
               for r in rows if 'error' not in r)

    written = sorted(osp.relpath(osp.join(d, f), overlays)
                     for d, _, files in os.walk(overlays) for f in files)
    assert written == sorted(['a/x.png', 'b/x.png', 'cncb/scan_1/0001.png',
                              'cncb/scan_2/0001.png', 'vol_z0000.png', 'vol_z0001.png',
                              'vol_z0002.png'])


def test_strict_and_nothing_readable_fail(model_files, inputs, tmp_path):
    assert _infer(model_files, inputs[0], '--strict') == 1
    assert _infer(model_files, osp.join(inputs[0], 'empty.png'),
                  osp.join(inputs[0], 'notes.txt')) == 1
    assert _infer(model_files, str(tmp_path / 'missing.png'), inputs[1]) == 0


def test_csv_rows(model_files, inputs, tmp_path):
    import csv

    out = str(tmp_path / 'rows.csv')
    assert _infer(model_files, inputs[0], '--out', out) == 0
    rows = list(csv.DictReader(open(out)))
    assert [r['slice'] for r in rows if not r['error']] == ['a/x.png']
    assert {'p_Normal', 'p_CP', 'p_COVID-19', 'lesions'} <= set(rows[0])
    assert sum(bool(r['error']) for r in rows) == 2


def test_suspect_inputs_are_warned_in_their_row_or_refused(model_files, tmp_path, capsys):
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file('CT_small.dcm'))
    hu = ds.pixel_array.astype(np.int32) - 1024
    cv2.imwrite(str(tmp_path / 'plus1024.png'), (hu + 1024).astype(np.uint16))
    ds.Modality = 'MR'
    ds.save_as(str(tmp_path / 'mr.dcm'))
    out = str(tmp_path / 'rows.jsonl')
    inputs = [str(tmp_path / 'plus1024.png'), str(tmp_path / 'mr.dcm')]
    assert _infer(model_files, *inputs, '--out', out) == 0
    rows = [json.loads(line) for line in open(out).read().splitlines()]
    png_row = next(r for r in rows if r['slice'].endswith('plus1024.png'))
    assert 'minus the offset 32768' in png_row['warnings'][0]
    assert "Modality 'MR'; expected a CT image" in next(
        r for r in rows if r['slice'].endswith('mr.dcm'))['error']
    printed = capsys.readouterr()
    assert 'WARNING: ' in printed.err and '1 read with a warning' in printed.out
    # the right offset, and --force for the MR file: both read, no warning left but the
    # one that says the MR file was read as CT
    assert _infer(model_files, *inputs, '--out', out, '--hu-offset', '1024', '--force') == 0
    rows = [json.loads(line) for line in open(out).read().splitlines()]
    assert [r.get('error') for r in rows] == [None, None]
    assert [len(r['warnings']) for r in rows] == [0, 1]


def test_overlay_names_of_file_arguments_never_collide(tmp_path):
    overlay_path = infer.overlay_path
    used = set()
    names = [overlay_path('out', dict(img_path=p, name=p), used)
             for p in ('/data/p1/x.png', '/data/p2/x.png', 'x.png', '/v/ct.nii.gz')]
    assert names[:3] == ['out/x.png', 'out/x_2.png', 'out/x_3.png']
    assert overlay_path('out', dict(img_path='/v/ct.nii.gz', name='/v/ct.nii.gz',
                                    slice_index=3), used) == 'out/ct_z0003.png'


def test_infer_says_what_the_model_was_not_validated_for(trained, prepared_phantom, tmp_path,
                                                        capsys):
    config, checkpoint = trained
    folder = osp.join(prepared_phantom, 'cls', 'test')
    image = osp.join(folder, sorted(os.listdir(folder))[0])
    out = tmp_path / 'rows.jsonl'
    assert infer.main([config, checkpoint, image, '--out', str(out)]) == 0
    assert capsys.readouterr().out.count('NOT VALIDATED: ') == 2
    with open(out) as f:
        assert json.loads(f.readline())['validated_on_real_ct'] is False


def test_infer_checks_its_arguments_before_loading_the_model(model_files, tmp_path, capsys):
    config, checkpoint = model_files
    missing = str(tmp_path / 'missing.pth')
    os.makedirs(tmp_path / 'rows.jsonl')  # a folder named like the file to write
    for ckpt, extra, message in (
            (missing, ['--batch-size', '0'], '--batch-size 0: expected at least 1'),
            (missing, [], 'missing.pth: no such file'),
            (checkpoint, ['--out', str(tmp_path / 'rows.txt')], 'expected a .jsonl or .csv'),
            (checkpoint, ['--out', str(tmp_path / 'rows.jsonl')], 'cannot write a file')):
        assert infer.main([config, ckpt, str(tmp_path)] + extra) == 2, extra
        assert message in capsys.readouterr().err
