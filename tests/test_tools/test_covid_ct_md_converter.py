"""covid_ct_md.py (converter): COVID-CT-MD's series and slice labels into the
classification set, split by patient; on phantom series laid out as figshare's set, and
on the real sample."""
import json
import os.path as osp
import shutil

import numpy as np
import pydicom
import pytest

from mmdet_covid.datasets import CTSliceClsDataset
from mmdet_covid.datasets.transforms import LoadCTSlice
from tests.conftest import load_tool

covid_ct_md = load_tool('dataset_converters/covid_ct_md.py')
main = covid_ct_md.main

INDEX = 'Label Index,Diagnosis,Relative Path,Folder/ID\n'


@pytest.fixture
def ct_md_root(phantom_scans, tmp_path):
    """figshare's layout: <diagnosis> subjects/<id>/*.dcm, Index.csv listing P001 and
    cap001 (rows 0 and 1 of the label array; Label Index with a gap, as the real file),
    P002 a COVID-19 patient without labels."""
    root = tmp_path / 'ct_md'
    for folder, src in (('COVID-19 subjects/P001', 'COVID-19'), ('COVID-19 subjects/P002',
                         'COVID-19'), ('CAP subjects/cap001', 'CP'),
                        ('Normal subjects/normal001', 'Normal')):
        shutil.copytree(osp.join(phantom_scans[src][0], 'dicom'), root / folder)
    (root / 'Index.csv').write_text(INDEX + '0,COVID-19,./COVID-19/,P001\n'
                                    '2,CAP,./CAP/,cap001\n')
    labels = np.zeros((2, 200), np.int32)
    labels[0, 3:7] = 1  # P001: slices 4-7 by InstanceNumber
    labels[1, [0, 11]] = 1  # cap001: the first and the last slice
    np.save(root / 'Slice-level-labels-updated-1.npy', labels)
    return root


def _run(root, out, *args):
    return main(['--root', str(root), '--out-dir', str(out), *args])


def _split(out, name):
    return json.loads((out / f'{name}.json').read_text())


def test_labelled_slices_by_instance_number_and_patients_whole(ct_md_root, tmp_path,
                                                               capsys):
    split_file = tmp_path / 'split.txt'
    split_file.write_text('P001 train\ncap001 train\nnormal001 test\n')
    summary = _run(ct_md_root, tmp_path / 'out', '--split-file', str(split_file))
    train = _split(tmp_path / 'out', 'train')
    assert train['metainfo']['classes'] == ['Normal', 'CP', 'COVID-19']
    assert train['metainfo']['data_source']['synthetic'] is False
    items = {(d['patient_id'], d['slice_index']): d for d in train['data_list']}
    assert sorted(items) == [('P001', k) for k in (3, 4, 5, 6)] + [('cap001', 0),
                                                                   ('cap001', 11)]
    assert {d['gt_label'] for d in train['data_list'] if d['patient_id'] == 'cap001'} == {1}
    for (patient, k), item in items.items():  # the file of InstanceNumber k + 1
        ds = pydicom.dcmread(str(ct_md_root / item['img_path']), stop_before_pixels=True)
        assert int(ds.InstanceNumber) == k + 1
    test = _split(tmp_path / 'out', 'test')['data_list']
    assert len(test) == 12 and {d['gt_label'] for d in test} == {0}
    assert summary['left_out'] == {'slices_without_infection_left_out': 8 + 10,
                                   'unlabelled_COVID-19': 1}
    assert 'unlabelled COVID-19 1' in capsys.readouterr().out


def test_fractions_split_each_diagnosis_by_patient(ct_md_root, tmp_path):
    summary = _run(ct_md_root, tmp_path / 'out', '--splits', 'train:0.5,test:0.5',
                   '--seed', '1')
    # one patient of each diagnosis: each goes whole to the larger remainder (train)
    assert summary['patients'] == {'train': {'COVID-19': 1, 'CP': 1, 'Normal': 1}}
    split_patients = covid_ct_md.split_patients
    patients = {f'P{i}': 'COVID-19' for i in range(7)}
    patients.update({f'n{i}': 'Normal' for i in range(3)})
    assigned = split_patients(patients, dict(train=0.7, val=0.15, test=0.15), seed=0)
    covid = [assigned[f'P{i}'] for i in range(7)]
    assert sorted(covid).count('train') == 5 and len(assigned) == 10
    assert split_patients(patients, dict(train=0.7, val=0.15, test=0.15), 0) == assigned


def test_the_dataset_reads_the_files_and_the_dicom_slices(ct_md_root, tmp_path):
    _run(ct_md_root, tmp_path / 'out', '--splits', 'train:1')
    dataset = CTSliceClsDataset(ann_file=str(tmp_path / 'out' / 'train.json'),
                                data_root=str(ct_md_root), data_prefix=dict(img_path=''),
                                pipeline=[LoadCTSlice()])
    assert len(dataset) == 4 + 2 + 12
    sample = dataset[0]
    assert sample['img'].shape == (128, 128, 3) and sample['img'].dtype == np.uint8


@pytest.mark.parametrize('change,message', [
    (lambda r: np.save(r / 'Slice-level-labels-updated-1.npy', np.zeros((3, 200))),
     r'shape \(3, 200\); expected .* one row for each of the 2 patients'),
    (lambda r: (r / 'Index.csv').write_text(INDEX + 'x,COVID-19,./,P001\n'),
     r'Index.csv:2: .*expected the columns Label Index'),
    (lambda r: shutil.move(str(r / 'COVID-19 subjects' / 'P002'), str(r / 'X007')),
     r"X007: no diagnosis for patient 'X007'"),
])
def test_bad_input_names_the_file(ct_md_root, tmp_path, change, message):
    change(ct_md_root)
    with pytest.raises(SystemExit, match=message):
        _run(ct_md_root, tmp_path / 'out')


def test_slices_numbered_out_of_order_are_refused(ct_md_root, tmp_path):
    folder = ct_md_root / 'CAP subjects' / 'cap001'
    path = next(p for p in folder.iterdir()
                if pydicom.dcmread(str(p), stop_before_pixels=True).InstanceNumber == 1)
    ds = pydicom.dcmread(str(path))
    ds.SliceLocation = 1000.0  # slice 1 above the others, which rise from it
    ds.save_as(str(path))
    with pytest.raises(SystemExit, match='cap001: SliceLocation does not run one way'):
        _run(ct_md_root, tmp_path / 'out')


def test_bad_arguments(ct_md_root, tmp_path):
    with pytest.raises(SystemExit, match='sum to 0.9'):
        _run(ct_md_root, tmp_path / 'out', '--splits', 'train:0.6,test:0.3')
    split_file = tmp_path / 'split.txt'
    split_file.write_text('P009 train\n')
    with pytest.raises(SystemExit, match="not found under .*'P009'"):
        _run(ct_md_root, tmp_path / 'out', '--split-file', str(split_file))


def test_real_sample(covid_ct_md, tmp_path):
    """The three public series: every infected slice of P001 (80) and cap001 (86, the row
    at its position in Index.csv) and every slice of normal001 (154)."""
    split_file = tmp_path / 'split.txt'
    split_file.write_text('P001 train\ncap001 val\nnormal001 test\n')
    summary = _run(covid_ct_md, tmp_path / 'out', '--split-file', str(split_file))
    assert summary['slices'] == {'train': {'COVID-19': 80}, 'val': {'CP': 86},
                                 'test': {'Normal': 154}}
    val = _split(tmp_path / 'out', 'val')['data_list']
    assert [d['slice_index'] for d in val][:2] == [48, 49]
    assert all(osp.isfile(osp.join(covid_ct_md, d['img_path'])) for d in val)
