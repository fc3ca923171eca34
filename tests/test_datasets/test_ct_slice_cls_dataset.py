"""CTSliceClsDataset: reads the converter's file, checks labels and class order."""
import json

import pytest

from mmdet_covid.datasets import CTSliceClsDataset


def write(tmp_path, data_list, classes=('Normal', 'CP', 'COVID-19')):
    path = tmp_path / 'ann.json'
    path.write_text(json.dumps(dict(metainfo=dict(classes=list(classes)), data_list=data_list)))
    return str(path)


def test_loads_prefixes_paths_and_exposes_labels(tmp_path):
    ann = write(tmp_path, [dict(img_path='train/a.png', gt_label=2),
                           dict(img_path='train/b.png', gt_label=0, crop_bbox=[1, 2, 3, 4])])
    ds = CTSliceClsDataset(ann_file=ann, data_root='/data/', data_prefix=dict(img_path='cls/'))
    assert len(ds) == 2
    assert ds[0]['img_path'] == '/data/cls/train/a.png'
    assert ds.get_data_info(1)['crop_bbox'] == [1, 2, 3, 4]
    assert ds.get_gt_labels().tolist() == [2, 0]
    assert ds.get_cat_ids(0) == [2]
    assert ds.metainfo['classes'] == ('Normal', 'CP', 'COVID-19')


@pytest.mark.parametrize('entry, message', [
    (dict(img_path='a.png', gt_label=3), r'data_list\[1\]: gt_label 3; expected an integer'),
    (dict(img_path='a.png', gt_label='2'), r"data_list\[1\]: gt_label '2'"),
    (dict(img_path='a.png'), r'data_list\[1\]: expected an object with "img_path" and'),
])
def test_bad_entries_name_the_file_and_index(tmp_path, entry, message):
    ann = write(tmp_path, [dict(img_path='ok.png', gt_label=0), entry])
    with pytest.raises(ValueError, match=message) as err:
        CTSliceClsDataset(ann_file=ann)
    assert 'ann.json' in str(err.value)


def test_other_class_order_and_empty_split_are_errors(tmp_path):
    ann = write(tmp_path, [dict(img_path='a.png', gt_label=0)], ('COVID-19', 'CP', 'Normal'))
    with pytest.raises(ValueError, match='differ from the dataset classes'):
        CTSliceClsDataset(ann_file=ann)
    with pytest.raises(ValueError, match='ann.json: empty data_list'):
        CTSliceClsDataset(ann_file=write(tmp_path, []))
