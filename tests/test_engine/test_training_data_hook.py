"""TrainingDataHook: every checkpoint says what each task was trained on, and the
notices that follow from it."""
import os.path as osp

import pytest

from mmdet_covid.datasets.data_source import read_data_source
from mmdet_covid.utils.provenance import (model_pixel_mm, read_training_data,
                                          training_notices)


def test_the_phantom_annotations_record_their_source(prepared_phantom):
    for ann in ('lesion_train.json', 'covidx_test.json'):
        source = read_data_source(osp.join(prepared_phantom, 'annotations', ann))
        assert source == dict(name='mmdet-covid synthetic phantom (generator version 3)',
                              synthetic=True, fov_mm=360.0)


def test_a_training_checkpoint_records_both_tasks(trained):
    config, checkpoint = trained
    data = read_training_data(checkpoint)
    assert data['config'].endswith('.py') and data['load_from'] is None
    for task, ann in (('seg', 'lesion_train.json'), ('cls', 'covidx_train.json')):
        record = data[task]
        assert record['synthetic'] is True and 'synthetic phantom' in record['name']
        assert record['ann_file'].endswith(ann) and record['samples'] > 0
        # the tiny phantom's 360 mm slices are resized to 128 px by the test config
        assert record['model_pixel_mm'] == pytest.approx(360.0 / 128)
    assert model_pixel_mm(data) == pytest.approx(360.0 / 128)
    notices = training_notices(data)
    assert len(notices) == 2 and 'The lesion segmentation was trained on mmdet-covid ' \
        'synthetic phantom (generator version 3), synthetic data, and never saw a real CT' \
        in notices[0] and 'slice and scan class are not validated on real CT' in notices[1]


def test_notices_for_real_unknown_and_missing_records():
    real = dict(name='my hospital', synthetic=False)
    assert training_notices(dict(seg=real, cls=real)) == []
    unknown = training_notices(dict(seg=dict(name='old file', synthetic=None), cls=real))
    assert unknown == ['The lesion segmentation was trained on old file, not recorded as '
                       'real or synthetic: its lesions and their burden are not validated on '
                       'real CT.']
    assert 'slice classifier was not trained' in training_notices(dict(seg=real, cls=None))[0]
    assert 'does not record what it was trained on' in training_notices(None)[0]
