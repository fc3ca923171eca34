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


def test_a_training_set_without_any_lesion_is_named(tmp_path):
    import json
    coco = dict(images=[dict(id=i, file_name=f'{i}.png', width=64, height=64) for i in (1, 2)],
                annotations=[], categories=[dict(id=1, name='lesion')])
    (tmp_path / 'empty.json').write_text(json.dumps(coco))
    with pytest.raises(ValueError, match='none of its 2 slices has a lesion'):
        LesionSegDataset(ann_file=str(tmp_path / 'empty.json'), data_root=str(tmp_path),
                         filter_cfg=dict(filter_empty_gt=True), pipeline=[],
                         data_prefix=dict(img=''))
    # a test set keeps its lesion-free slices
    test_set = LesionSegDataset(ann_file=str(tmp_path / 'empty.json'), data_root=str(tmp_path),
                                test_mode=True, pipeline=[], data_prefix=dict(img=''))
    assert len(test_set) == 2
