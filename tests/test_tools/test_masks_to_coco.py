"""masks_to_coco.py: slice images + lesion masks (binary or labelled) to COCO."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from tests.conftest import load_tool

main = load_tool('dataset_converters/masks_to_coco.py').main


def _folders(tmp_path, masks: dict, size=(40, 48), mask_ext='.png'):
    """Write ``images/<stem>.jpg`` (grey) and ``masks/<stem><ext>`` for each mask."""
    os.makedirs(tmp_path / 'images')
    os.makedirs(tmp_path / 'masks')
    for stem, mask in masks.items():
        Image.fromarray(np.full(size, 90, np.uint8)).save(tmp_path / 'images' / f'{stem}.jpg')
        Image.fromarray(mask).save(tmp_path / 'masks' / f'{stem}{mask_ext}')
    return ['--images', str(tmp_path / 'images'), '--masks', str(tmp_path / 'masks'),
            '--out-dir', str(tmp_path / 'out')]


def _coco(tmp_path, name='annotations'):
    return json.loads((tmp_path / 'out' / f'{name}.json').read_text())


def test_a_binary_mask_gives_one_instance_per_component(tmp_path, capsys):
    mask = np.zeros((40, 48), np.uint8)
    mask[2:10, 2:12] = 255  # 80 px
    mask[20:30, 30:40] = 255  # 100 px
    mask[35:37, 0:3] = 255  # 6 px: dropped by the area rule
    empty = np.zeros((40, 48), np.uint8)
    argv = _folders(tmp_path, {'1': mask, '2': empty})
    summary = main(argv + ['--source-name', 'test set', '--min-area', '10'])
    assert summary == dict(slices=2, images=2, without_lesions=1,
                           instances={'lesion': 2}, dropped_by_area=1)
    coco = _coco(tmp_path)
    assert [c['name'] for c in coco['categories']] == ['lesion']
    assert sorted(a['area'] for a in coco['annotations']) == [80, 100]
    decoded = mask_utils.decode(coco['annotations'][0]['segmentation'])
    assert decoded.sum() == 80 and coco['annotations'][0]['bbox'] == [2, 2, 10, 8]
    assert coco['info']['data_source'] == dict(name='test set', synthetic=False, fov_mm=None)
    assert coco['images'][0]['file_name'] == '1.jpg'
    assert 'dropped by area         1 (<= 10 px' in capsys.readouterr().out
    main(argv + ['--drop-empty', '--name', 'train'])
    assert [im['file_name'] for im in _coco(tmp_path, 'train')['images']] == ['1.jpg']


def test_a_label_mask_with_classes_and_merged(tmp_path):
    mask = np.zeros((40, 48), np.uint8)
    mask[2:10, 2:12] = 1
    mask[10:14, 2:12] = 2  # touching the ground glass: its own instance of its own class
    argv = _folders(tmp_path, {'a': mask})
    main(argv + ['--classes', '1:ground_glass,2:consolidation'])
    coco = _coco(tmp_path)
    assert [c['name'] for c in coco['categories']] == ['ground_glass', 'consolidation']
    assert sorted((a['category_id'], a['area']) for a in coco['annotations']) == [(1, 80),
                                                                                (2, 40)]
    main(argv + ['--merge', '--name', 'merged'])
    merged = _coco(tmp_path, 'merged')
    assert [(a['category_id'], a['area']) for a in merged['annotations']] == [(1, 120)]
    with pytest.raises(SystemExit, match=r"a.png: mask values \[0, 1, 2\]; expected a "
                                         'binary mask.*--classes'):
        main(argv)
    with pytest.raises(SystemExit, match=r'mask values \[2\] are not in --classes'):
        main(argv + ['--classes', '1:ground_glass'])
    with pytest.raises(SystemExit, match='expected VALUE:NAME pairs'):
        main(argv + ['--classes', 'ground_glass'])


def test_missing_odd_and_mismatched_files_are_named(tmp_path):
    mask = np.zeros((40, 48), np.uint8)
    mask[2:10, 2:12] = 1
    argv = _folders(tmp_path, {'1': mask, '2': mask})
    os.remove(tmp_path / 'masks' / '2.png')
    with pytest.raises(SystemExit, match=r'1 image\(s\) without a mask .* e.g. 2.jpg'):
        main(argv)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / 'masks' / '2.png')
    with pytest.raises(SystemExit, match='2.png: 20x20 pixels, its image 48x40'):
        main(argv)
    (tmp_path / 'split.txt').write_text('1\n')
    assert main(argv + ['--split-file', str(tmp_path / 'split.txt')])['images'] == 1
    (tmp_path / 'split.txt').write_text('1\n7\n')
    with pytest.raises(SystemExit, match=r"1 stem\(s\) without an image .* e.g. '7'"):
        main(argv + ['--split-file', str(tmp_path / 'split.txt')])
    Image.fromarray(mask).save(tmp_path / 'masks' / '9.png')
    os.remove(tmp_path / 'masks' / '2.png')
    Image.fromarray(mask).save(tmp_path / 'masks' / '2.png')
    with pytest.raises(SystemExit, match=r'1 mask\(s\) without an image .* e.g. 9.png'):
        main(argv)


def test_covid_semiseg_test_split(covid_semiseg, tmp_path):
    test = osp.join(covid_semiseg, 'TestingSet')
    summary = main(['--images', osp.join(test, 'LungInfection-Test', 'Imgs'),
                    '--masks', osp.join(test, 'LungInfection-Test', 'GT'),
                    '--out-dir', str(tmp_path), '--name', 'binary'])
    assert summary == dict(slices=48, images=48, without_lesions=0,
                           instances={'lesion': 392}, dropped_by_area=2)
    summary = main(['--images', osp.join(test, 'MultiClassInfection-Test', 'Imgs'),
                    '--masks', osp.join(test, 'MultiClassInfection-Test', 'GT'),
                    '--out-dir', str(tmp_path), '--name', 'multi',
                    '--classes', '1:ground_glass,2:consolidation'])
    assert summary['images'] == 48 and set(summary['instances']) == {'ground_glass',
                                                                      'consolidation'}
