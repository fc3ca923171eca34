"""LesionSegDataset: the class lesion, empty test images, and a file of other classes."""
import pytest

from mmdet_covid.datasets import LesionSegDataset


def test_reads_the_converted_phantom(prepared_phantom):
    train = LesionSegDataset(ann_file='annotations/lesion_train.json',
                             data_root=prepared_phantom, data_prefix=dict(img='seg/image/'),
                             filter_cfg=dict(filter_empty_gt=True))
    test = LesionSegDataset(ann_file='annotations/lesion_test.json',
                            data_root=prepared_phantom, data_prefix=dict(img='seg/image/'),
                            test_mode=True)
    assert train.metainfo['classes'] == ('lesion', )
    assert all(info['instances'] for info in train.load_data_list())
    # The test split keeps the slices without lesions (the phantom writes some).
    assert any(not info['instances'] for info in test.load_data_list())
    assert all(inst['bbox_label'] == 0 for info in test.load_data_list()
               for inst in info['instances'])


def test_classes_missing_from_the_file_are_an_error(prepared_phantom):
    with pytest.raises(ValueError, match=r"lesion_train.json: 0 of the classes \('GGO', "
                                         r"'consolidation'\) are categories of the file"):
        LesionSegDataset(ann_file='annotations/lesion_train.json', data_root=prepared_phantom,
                         data_prefix=dict(img='seg/image/'),
                         metainfo=dict(classes=('GGO', 'consolidation')))
