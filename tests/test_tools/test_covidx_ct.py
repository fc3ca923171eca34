"""covidx_ct: label-file parsing, subsampling, body crop, patient leakage, bad input."""
import json
import os

import cv2
import numpy as np
import pytest

from tests.conftest import load_tool

covidx_ct = load_tool('dataset_converters/covidx_ct.py')
COVIDxFormatError = covidx_ct.COVIDxFormatError
convert_covidx = covidx_ct.convert_covidx
find_shared_patients = covidx_ct.find_shared_patients
main = covidx_ct.main
parse_label_file = covidx_ct.parse_label_file
patient_id = covidx_ct.patient_id


@pytest.fixture
def split(tmp_path):
    """Write images into ``images/`` and a label file; returns a writer."""
    img_dir = tmp_path / 'images'
    img_dir.mkdir()

    def write(lines, name='train.txt', size=(64, 48)):
        for line in lines:
            fname = line.split()[0]
            if fname.endswith('.png') and not (img_dir / fname).exists():
                rng = np.random.default_rng(len(fname))
                cv2.imwrite(str(img_dir / fname),
                            rng.integers(0, 255, (size[1], size[0]), np.uint8))
        path = tmp_path / name
        path.write_text(''.join(f'{line}\n' for line in lines))
        return str(path), str(img_dir)

    return write


def test_lines_are_parsed_with_labels_boxes_and_patients(split):
    label_file, img_dir = split(['NCP_96_1328_0032.png 2 1 2 60 40',
                                 'CP_7_1001_0100.png 1 0 0 64 48',
                                 'Normal_3_900_0010.png 0 5 5 50 45'])
    ann, summary = convert_covidx(label_file, img_dir)
    assert ann['metainfo']['classes'] == ['Normal', 'CP', 'COVID-19']
    assert [(d['img_path'], d['gt_label'], d['patient_id']) for d in ann['data_list']] == [
        ('NCP_96_1328_0032.png', 2, 'NCP_96'), ('CP_7_1001_0100.png', 1, 'CP_7'),
        ('Normal_3_900_0010.png', 0, 'Normal_3')]
    assert ann['data_list'][0]['body_bbox'] == [1, 2, 60, 40]
    assert 'crop_bbox' not in ann['data_list'][0]
    assert summary['per_class'] == {'Normal': 1, 'CP': 1, 'COVID-19': 1}


def test_crop_body_and_relative_paths(split, tmp_path):
    label_file, img_dir = split(['NCP_1_1_0001.png 2 1 2 60 40'])
    ann, _ = convert_covidx(label_file, img_dir, relative_to=str(tmp_path), crop_body=True)
    assert ann['data_list'][0]['img_path'] == 'images/NCP_1_1_0001.png'
    assert ann['data_list'][0]['crop_bbox'] == [1, 2, 60, 40]


@pytest.mark.parametrize('line, message', [
    ('a.png 2 0 0 10', r'train.txt:2: 5 columns; expected 6'),
    ('a.png 2 0 0 10 10 7', r'train.txt:2: 7 columns; expected 6'),
    ('a.png 3 0 0 10 10', r'train.txt:2: class 3; expected 0 \(Normal\), 1 \(CP\) or 2'),
    ('a.png -1 0 0 10 10', r'train.txt:2: class -1'),
    ('a.png COVID 0 0 10 10', r'train.txt:2: .*expected integers'),
    ('a.png 1 10 0 10 10', r'train.txt:2: box \[10, 0, 10, 10\]; expected 0 <= xmin < xmax'),
    ('my slice.png 1 0 0 10 10', r"train.txt:2: file name with spaces 'my slice.png'"),
    ('ok.png 0 0 0 10 10', r'train.txt:2: ok.png repeats line 1; expected each slice once'),
    ('ok.png 2 0 0 10 10', r'train.txt:2: ok.png has class 2 box \[0, 0, 10, 10\] but line 1 '
                           r'gave it class 0'),
])
def test_bad_lines_name_the_file_and_line(split, line, message):
    label_file, _ = split(['ok.png 0 0 0 10 10', line])
    with pytest.raises(COVIDxFormatError, match=message):
        parse_label_file(label_file)


@pytest.mark.parametrize('data, message', [
    (b'\xef\xbb\xbfok.png 0 0 0 10 10\n', r'train.txt:1: .*UTF-8 byte-order mark'),
    (b'\xff\xfeo\x00k\x00', r'train.txt:1: .*UTF-16 byte-order mark'),
    (b'ok.png 0 0 0 10 10\nd\xe9j\xe0.png 1 0 0 10 10\n', r'train.txt:2: byte 0xe9 .*not UTF-8'),
])
def test_label_files_that_are_not_utf8_name_the_file_and_line(tmp_path, data, message):
    path = tmp_path / 'train.txt'
    path.write_bytes(data)
    with pytest.raises(COVIDxFormatError, match=message):
        parse_label_file(str(path))
    with pytest.raises(COVIDxFormatError, match=message):  # --skip-bad does not guess
        convert_covidx(str(path), str(tmp_path), skip_bad=True)


def test_skip_bad_skips_and_counts_every_bad_line(split, capsys):
    label_file, img_dir = split([
        'a.png 0 0 0 10 10', 'b.png 2 0 0 10', 'b c.png 1 0 0 10 10', 'c.png 3 0 0 10 10',
        'd.png x 0 0 10 10', 'e.png 1 5 5 5 5', 'a.png 0 0 0 10 10',
        'f.png 1 0 0 10 10', 'f.png 2 0 0 10 10', 'g.png 1 0 0 10 10'])
    ann, summary = convert_covidx(label_file, img_dir, skip_bad=True)
    assert [d['img_path'] for d in ann['data_list']] == ['a.png', 'g.png']
    assert summary['skipped'] == {
        'wrong column count': 1, 'file name with spaces': 1, 'class outside 0-2': 1,
        'not an integer': 1, 'empty or inverted box': 1, 'repeated line': 1,
        'conflicting labels': 2}
    assert summary['lines'] == 10 and summary['written'] == 2
    err = capsys.readouterr().err
    assert 'train.txt: f.png is listed with different labels or boxes on lines 8, 9' in err


def test_a_failed_conversion_leaves_the_old_annotation_intact(split, tmp_path, monkeypatch):
    label_file, img_dir = split(['a.png 0 0 0 10 10'])
    out = tmp_path / 'covidx_train.json'
    out.write_text('{"old": true}')
    monkeypatch.setattr(os, 'fsync', lambda fd: (_ for _ in ()).throw(OSError(28, 'full')))
    with pytest.raises(OSError, match='full'):
        main(['--label-file', label_file, '--img-dir', img_dir, '--out', str(out)])
    assert out.read_text() == '{"old": true}'
    assert sorted(os.listdir(tmp_path)) == ['covidx_train.json', 'images', 'train.txt']


def test_empty_split_and_missing_label_file(split, tmp_path):
    label_file, img_dir = split([])
    with pytest.raises(COVIDxFormatError, match='train.txt: empty split'):
        convert_covidx(label_file, img_dir)
    with pytest.raises(COVIDxFormatError, match='nope.txt: label file not found'):
        parse_label_file(str(tmp_path / 'nope.txt'))


@pytest.mark.parametrize('case, message', [
    ('missing', r'train.txt:2: .*b.png: image not found'),
    ('truncated', r'train.txt:2: .*b.png: unreadable or truncated image'),
    ('box', r'train.txt:2: box \[0, 0, 64, 49\] exceeds the 64x48 image'),
])
def test_bad_images_stop_or_are_skipped_and_counted(split, case, message):
    lines = ['a.png 0 0 0 64 48', 'b.png 2 0 0 64 48' if case != 'box' else 'b.png 2 0 0 64 49']
    label_file, img_dir = split(lines)
    path = os.path.join(img_dir, 'b.png')
    if case == 'missing':
        os.remove(path)
    elif case == 'truncated':
        data = open(path, 'rb').read()
        open(path, 'wb').write(data[:len(data) // 2])
    with pytest.raises(COVIDxFormatError, match=message):
        convert_covidx(label_file, img_dir)
    ann, summary = convert_covidx(label_file, img_dir, skip_bad=True)
    assert [d['img_path'] for d in ann['data_list']] == ['a.png']
    assert summary['written'] == 1 and sum(summary['skipped'].values()) == 1


def test_balanced_subsample_is_balanced_and_seeded(split):
    lines = [f'{p}_{i}_1_{i:04d}.png {c} 0 0 64 48' for c, p in enumerate(('Normal', 'CP', 'NCP'))
             for i in range(10)]
    label_file, img_dir = split(lines)
    a, _ = convert_covidx(label_file, img_dir, per_class=4, seed=1)
    b, _ = convert_covidx(label_file, img_dir, per_class=4, seed=1)
    c, _ = convert_covidx(label_file, img_dir, per_class=4, seed=2)
    labels = [d['gt_label'] for d in a['data_list']]
    assert labels == sorted(labels) and [labels.count(k) for k in range(3)] == [4, 4, 4]
    assert a == b
    assert a['data_list'] != c['data_list']
    with pytest.raises(COVIDxFormatError, match='10 slices of class 0 .*at least --per-class 11'):
        convert_covidx(label_file, img_dir, per_class=11)


def test_patients_shared_between_splits_are_reported(split):
    train, _ = split(['NCP_1_10_0001.png 2 0 0 9 9', 'CP_2_11_0001.png 1 0 0 9 9'])
    val, _ = split(['NCP_1_12_0005.png 2 0 0 9 9', 'Normal_2_3_0001.png 0 0 0 9 9'], 'val.txt')
    test, _ = split(['CP_3_13_0001.png 1 0 0 9 9', 'odd.png 1 0 0 9 9'], 'test.txt')
    shared, unparsed = find_shared_patients([train, val, test])
    assert shared == {'NCP_1': [train, val]}  # CP_2 and Normal_2 are different patients
    assert unparsed == 1
    assert patient_id('radiopaedia_10_85902_1_case10_0000.png') == 'radiopaedia_10'


def test_cli_reports_leakage_and_writes_the_annotation(split, tmp_path, capsys):
    train, img_dir = split(['NCP_1_10_0001.png 2 0 0 9 9', 'CP_2_11_0001.png 1 0 0 9 9'])
    val, _ = split(['NCP_1_12_0005.png 2 0 0 9 9'], 'val.txt')
    out = str(tmp_path / 'ann' / 'covidx_train.json')
    main(['--label-file', train, '--img-dir', img_dir, '--out', out, '--other-splits', val])
    printed = capsys.readouterr().out
    assert 'patients in more than one of 2 split files: 1' in printed and 'NCP_1' in printed
    with open(out) as f:
        assert len(json.load(f)['data_list']) == 2
    with pytest.raises(SystemExit, match='1 patients appear in more than one split'):
        main(['--label-file', train, '--img-dir', img_dir, '--out', out, '--other-splits', val,
              '--fail-on-shared-patients'])


def test_phantom_splits_convert_without_leakage(tiny_phantom):
    root, _ = tiny_phantom
    files = [f'{root}/cls/{s}_COVIDx_CT.txt' for s in ('train', 'val', 'test')]
    assert find_shared_patients(files) == ({}, 0)
    ann, summary = convert_covidx(files[0], f'{root}/cls/train', relative_to=f'{root}/cls')
    assert all(d['img_path'].startswith('train/') for d in ann['data_list'])
    assert set(summary['per_class'].values()) == {len(ann['data_list']) // 3}
