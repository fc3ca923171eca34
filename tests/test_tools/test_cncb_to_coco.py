"""cncb_to_coco: value mapping, 8-connectivity, area rule, RLE, splits and bad input."""
import json
import os
import os.path as osp

import numpy as np
import pycocotools.mask as mask_utils
import pytest
from pycocotools.coco import COCO

from mmdet_covid.datasets.mask_instances import mask_to_instances
from tests.conftest import load_tool

cncb_to_coco = load_tool('dataset_converters/cncb_to_coco.py')
CNCBFormatError = cncb_to_coco.CNCBFormatError
convert_cncb = cncb_to_coco.convert_cncb
main = cncb_to_coco.main


def blank(h=64, w=64, lung=True):
    mask = np.zeros((h, w), np.uint8)
    if lung:
        mask[4:-4, 4:-4] = 1
    return mask


def test_diagonal_touch_is_one_instance():
    mask = blank()
    mask[10:21, 10:21] = 2  # 11x11 GGO
    mask[21:32, 21:32] = 3  # 11x11 consolidation touching it only at a corner
    instances, dropped = mask_to_instances(mask, (2, 3), min_area=100)
    assert dropped == 0
    assert len(instances) == 1
    assert instances[0]['area'] == 2 * 121
    assert instances[0]['bbox'] == [10, 10, 22, 22]


def test_one_pixel_gap_gives_two_instances_with_tight_boxes():
    mask = blank()
    mask[10:21, 10:21] = 2
    mask[10:21, 22:30] = 2  # column 21 stays lung: no 8-neighbour contact
    instances, _ = mask_to_instances(mask, (2, 3), min_area=0)
    assert sorted(inst['bbox'] for inst in instances) == [[10, 10, 11, 11], [22, 10, 8, 11]]


def test_area_rule_drops_components_of_at_most_min_area():
    mask = blank(80, 80)
    mask[10:20, 10:20] = 2  # exactly 100 px: not an instance
    mask[40:50, 40:50] = 2
    mask[50, 40] = 2  # 101 px: an instance
    instances, dropped = mask_to_instances(mask, (2, 3), min_area=100)
    assert dropped == 1
    assert [inst['area'] for inst in instances] == [101]


def test_values_are_mapped_explicitly_not_by_rank():
    only_consolidation = blank()
    only_consolidation[20:40, 20:40] = 3
    # The only lesion value present is 3: still consolidation, never "the first class".
    assert mask_to_instances(only_consolidation, (2, ), 0)[0] == []
    assert len(mask_to_instances(only_consolidation, (3, ), 0)[0]) == 1
    # A lung without lesion values has no instance, even though 1 is its top value.
    assert mask_to_instances(blank(), (2, 3), 0)[0] == []


def test_rle_round_trip():
    rng = np.random.default_rng(0)
    mask = blank(96, 80)
    mask[20:60, 15:50] = np.where(rng.random((40, 35)) < 0.7, 2, 3)
    instances, _ = mask_to_instances(mask, (2, 3), 0)
    decoded = np.zeros(mask.shape, np.uint8)
    for inst in instances:
        rle = dict(inst['segmentation'], counts=inst['segmentation']['counts'].encode())
        part = mask_utils.decode(rle)
        assert part.shape == mask.shape
        assert part.sum() == inst['area'] == mask_utils.area(rle)
        assert list(mask_utils.toBbox(rle)) == inst['bbox']
        decoded |= part
    np.testing.assert_array_equal(decoded, mask >= 2)


def test_convert_categories_keep_empty_and_summary(tmp_path, write_slice):
    lesion = blank()
    lesion[10:30, 10:30] = 2
    lesion[40:55, 40:55] = 3
    write_slice(tmp_path, 'scanA/1', lesion)
    write_slice(tmp_path, 'scanA/2', blank())  # no lesion
    img_dir, mask_dir = str(tmp_path / 'image'), str(tmp_path / 'mask')

    coco, summary = convert_cncb(img_dir, mask_dir)
    assert [c['name'] for c in coco['categories']] == ['lesion']
    assert [im['file_name'] for im in coco['images']] == ['scanA/1.png']
    assert len(coco['annotations']) == 2
    assert summary['without_lesions'] == 1 and summary['without_lesions_kept'] == 0

    coco, summary = convert_cncb(img_dir, mask_dir, keep_empty=True,
                                 classes='ggo-consolidation')
    assert [im['file_name'] for im in coco['images']] == ['scanA/1.png', 'scanA/2.png']
    assert [c['name'] for c in coco['categories']] == ['GGO', 'consolidation']
    assert sorted((a['category_id'], a['area']) for a in coco['annotations']) == [
        (1, 400), (2, 225)]
    assert summary['without_lesions_kept'] == 1
    assert all(a['image_id'] == 1 for a in coco['annotations'])


def test_split_file_selects_scans_and_slices(tmp_path, write_slice):
    lesion = blank()
    lesion[10:30, 10:30] = 2
    for stem in ('p1/1', 'p1/2', 'p2/1', 'p3/7'):
        write_slice(tmp_path, stem, lesion, ext='.jpg')
    split = tmp_path / 'split.txt'
    split.write_text('p1\n\np3/7.jpg\n')
    coco, _ = convert_cncb(str(tmp_path / 'image'), str(tmp_path / 'mask'), str(split))
    assert [im['file_name'] for im in coco['images']] == ['p1/1.jpg', 'p1/2.jpg', 'p3/7.jpg']
    assert [im['scan'] for im in coco['images']] == ['p1', 'p1', 'p3']


def _truncate(path, keep=0.5):
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:int(len(data) * keep)])


def damage(case, img, mask):
    if case == 'missing mask':
        os.remove(mask)
    elif case == 'missing image':
        os.remove(img)
    elif case == 'truncated image':
        _truncate(img)
    elif case == 'unreadable image':
        open(img, 'wb').write(b'not an image')
    elif case == 'truncated mask':
        _truncate(mask)


BAD_CASES = {  # case -> what the error says
    'missing mask': 'image without a mask',
    'missing image': 'mask without an image',
    'truncated image': 'unreadable or truncated image',
    'unreadable image': 'unreadable or truncated image',
    'truncated mask': 'unreadable or truncated mask',
}


@pytest.mark.parametrize('case', sorted(BAD_CASES))
def test_bad_file_names_the_file_or_is_skipped_and_counted(tmp_path, write_slice, case):
    lesion = blank()
    lesion[10:30, 10:30] = 2
    write_slice(tmp_path, 'ok/1', lesion)
    rng = np.random.default_rng(0)  # noisy pixels: the PNG is long enough to truncate
    img, mask = write_slice(tmp_path, 'bad/1', lesion, rng.integers(0, 255, (64, 64), np.uint8))
    damage(case, img, mask)
    message = BAD_CASES[case]
    img_dir, mask_dir = str(tmp_path / 'image'), str(tmp_path / 'mask')
    with pytest.raises(CNCBFormatError, match=message) as err:
        convert_cncb(img_dir, mask_dir)
    assert osp.join('bad', '1') in str(err.value)
    coco, summary = convert_cncb(img_dir, mask_dir, skip_bad=True)
    assert [im['file_name'] for im in coco['images']] == ['ok/1.png']
    assert sum(summary['skipped'].values()) == 1
    assert list(summary['skipped']) == [err.value.reason]


def test_mask_size_and_values_are_checked(tmp_path, write_slice):
    bad_size = blank(60, 64)
    write_slice(tmp_path, 's/1', bad_size, np.zeros((64, 64), np.uint8))
    with pytest.raises(CNCBFormatError, match=r'mask is 64x60 but its image .* is 64x64'):
        convert_cncb(str(tmp_path / 'image'), str(tmp_path / 'mask'))

    bad_value = blank()
    bad_value[5, 5] = 4
    bad_value[6, 6] = 255
    _, mask_path = write_slice(tmp_path, 's/1', bad_value)
    with pytest.raises(CNCBFormatError, match=r'mask values \[4, 255\] outside 0-3') as err:
        convert_cncb(str(tmp_path / 'image'), str(tmp_path / 'mask'))
    assert mask_path in str(err.value)


def test_empty_or_wrong_split_is_an_error(tmp_path, write_slice):
    write_slice(tmp_path, 's/1', blank())
    img_dir, mask_dir = str(tmp_path / 'image'), str(tmp_path / 'mask')
    split = tmp_path / 'test.txt'
    split.write_text('\n  \n')
    with pytest.raises(CNCBFormatError, match=r'test.txt: empty split'):
        convert_cncb(img_dir, mask_dir, str(split))
    split.write_text('s\nnope\n')
    with pytest.raises(CNCBFormatError, match=r"test.txt:2: 'nope' is neither a scan"):
        convert_cncb(img_dir, mask_dir, str(split))
    # Every slice of the split lacks lesions: nothing to train on, said out loud.
    with pytest.raises(CNCBFormatError, match='1 without lesions.*--keep-empty'):
        convert_cncb(img_dir, mask_dir)


def test_a_scan_in_two_splits_stops_the_conversion(tmp_path, write_slice):
    mask = np.zeros((32, 32), np.uint8)
    mask[2:18, 2:18] = 2
    for stem in ('p1/1', 'p1/2', 'p2/1', 'p3/1'):
        write_slice(tmp_path, stem, mask)
    img_dir, mask_dir = str(tmp_path / 'image'), str(tmp_path / 'mask')
    (tmp_path / 'train.txt').write_text('p1/1\np2\n')
    (tmp_path / 'val.txt').write_text('p3\n')
    (tmp_path / 'test.txt').write_text('p1/2.png\n')
    splits = [str(tmp_path / f) for f in ('train.txt', 'val.txt', 'test.txt')]
    with pytest.raises(CNCBFormatError, match=r'1 scan\(s\) in both .*train.txt and '
                                              r'.*test.txt: p1; expected splits by scan'):
        convert_cncb(img_dir, mask_dir, splits[0], other_splits=splits[1:])
    coco, _ = convert_cncb(img_dir, mask_dir, splits[1], other_splits=[splits[0]])
    assert [im['file_name'] for im in coco['images']] == ['p3/1.png']


def test_split_file_with_a_bom_or_latin1_names_the_line(tmp_path, write_slice):
    write_slice(tmp_path, 's/1', np.full((8, 8), 2, np.uint8))
    split = tmp_path / 'train.txt'
    for data, message in ((b'\xef\xbb\xbfs\n', r'train.txt:1: .*byte-order mark'),
                          (b's\n\ns\xe9\n', r'train.txt:3: byte 0xe9 .*not UTF-8')):
        split.write_bytes(data)
        with pytest.raises(CNCBFormatError, match=message):
            convert_cncb(str(tmp_path / 'image'), str(tmp_path / 'mask'), str(split),
                         skip_bad=True)


def test_cli_on_the_phantom_writes_a_coco_file(tiny_phantom, tmp_path, capsys):
    root, _ = tiny_phantom
    out = str(tmp_path / 'ann' / 'lesion_test.json')
    summary = main(['--img-dir', f'{root}/seg/image', '--mask-dir', f'{root}/seg/mask',
                    '--split-file', f'{root}/seg/test.txt', '--min-area', '10',
                    '--keep-empty', '--out', out])
    printed = capsys.readouterr().out
    assert 'images without lesions' in printed and 'instances dropped by area' in printed
    coco = COCO(out)
    test_scans = open(f'{root}/seg/test.txt').read().split()
    assert {im['scan'] for im in coco.dataset['images']} == set(test_scans)
    assert len(coco.getAnnIds()) == summary['instances'] > 0
    with open(out) as f:
        assert json.load(f)['info']['keep_empty'] is True
    with pytest.raises(SystemExit, match='error: .*nowhere.* is not a directory'):
        main(['--img-dir', str(tmp_path / 'nowhere'), '--mask-dir', f'{root}/seg/mask',
              '--out', out])
