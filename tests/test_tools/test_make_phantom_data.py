"""The phantom generator (mmdet_covid.datasets.phantom) and tools/make_phantom_data.py:
determinism, raw-format layout, class radiology, exact masks."""
import hashlib
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mmdet_covid.datasets.phantom import (GENERATOR_VERSION, HARD_FRAC, MASK_CONSOLIDATION,
                                          MASK_GGO, MASK_LUNG, generate, render_slice,
                                          sample_anatomy)
from mmdet_covid.datasets.phantom.phantom_generator import plan_classification
from tests.conftest import load_tool

parse_label_file = load_tool('dataset_converters/covidx_ct.py').parse_label_file
main = load_tool('make_phantom_data.py').main


def file_hashes(root):
    hashes = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            path = osp.join(dirpath, f)
            with open(path, 'rb') as fh:
                hashes[osp.relpath(path, root)] = hashlib.sha256(fh.read()).hexdigest()
    return hashes


def test_same_seed_same_bytes_for_any_worker_count(tmp_path):
    kwargs = dict(n_seg=6, n_cls=9, size=96, frames_per_scan=3)
    generate(str(tmp_path / 'a'), seed=3, workers=1, **kwargs)
    generate(str(tmp_path / 'b'), seed=3, workers=2, **kwargs)
    generate(str(tmp_path / 'c'), seed=4, workers=1, **kwargs)
    a, b, c = (file_hashes(tmp_path / k) for k in 'abc')
    assert len(a) == 6 * 2 + 9 + 2 + 3 + 1  # slices, masks, cls, seg splits, labels, json
    assert a == b
    pngs = [k for k in a if k.endswith('.png')]
    assert all(a[k] != c.get(k) for k in pngs if k in c)


def test_layout_is_the_raw_cncb_and_covidx_formats(tiny_phantom):
    root, summary = tiny_phantom
    train = open(f'{root}/seg/train.txt').read().split()
    test = open(f'{root}/seg/test.txt').read().split()
    assert train and test and not set(train) & set(test)
    assert sorted(train + test) == sorted(os.listdir(f'{root}/seg/image'))
    n_seg = 0
    for scan in train + test:
        for frame in os.listdir(f'{root}/seg/image/{scan}'):
            img = cv2.imread(f'{root}/seg/image/{scan}/{frame}', cv2.IMREAD_UNCHANGED)
            mask = cv2.imread(f'{root}/seg/mask/{scan}/{frame}', cv2.IMREAD_UNCHANGED)
            assert img.dtype == np.uint8 and img.shape == (128, 128)
            assert mask.shape == img.shape and set(np.unique(mask)) <= {0, 1, 2, 3}
            assert MASK_LUNG in mask
            n_seg += 1
    assert n_seg == 10
    n_cls = 0
    for split in ('train', 'val', 'test'):
        lines = parse_label_file(f'{root}/cls/{split}_COVIDx_CT.txt')
        assert sorted(line.filename for line in lines) == sorted(os.listdir(f'{root}/cls/{split}'))
        for line in lines:
            prefix = line.filename.split('_')[0]
            assert {'Normal': 0, 'CP': 1, 'NCP': 2}[prefix] == line.label
            img = cv2.imread(f'{root}/cls/{split}/{line.filename}', cv2.IMREAD_UNCHANGED)
            x1, y1, x2, y2 = line.box
            # The box is the body: air above it, and beside it (above the table).
            assert img[:y1].max() < 120 and img[y1:y1 + 2, x1:x2].max() > 180
            upper = img[y1:(y1 + y2) // 2]
            assert upper[:, :x1].max() < 120 and upper[:, x2:].max() < 120
            assert upper[:, x1:x1 + 2].max() > 180 and upper[:, x2 - 2:x2].max() > 180
        n_cls += len(lines)
    assert n_cls == 18 and len(summary['slices']) == 28


def render(pattern, n, size=192, hard=False, seed=0):
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        img, mask, box, lesions = render_slice(size, sample_anatomy(rng),
                                               rng.uniform(0.1, 0.8), pattern, hard, rng)
        out.append((img, mask, lesions))
    return out


def lesion_stats(mask):
    """(components, lungs with lesions, GGO px, consolidation px) of a mask."""
    lesion = (mask >= MASK_GGO).astype(np.uint8)
    n, _, _, centroids = cv2.connectedComponentsWithStats(lesion, connectivity=8)
    sides = {int(c[0] >= mask.shape[1] / 2) for c in centroids[1:]}
    return n - 1, len(sides), int((mask == MASK_GGO).sum()), int(
        (mask == MASK_CONSOLIDATION).sum())


def test_classes_follow_their_radiology():
    normal = [lesion_stats(m) for _, m, _ in render('normal', 10)]
    covid = [lesion_stats(m) for _, m, _ in render('covid', 25)]
    cp = [lesion_stats(m) for _, m, _ in render('cp', 25)]
    assert all(s[0] == 0 for s in normal)
    assert all(s[0] >= 1 for s in covid + cp)
    # COVID-19: multifocal, mostly bilateral, ground-glass dominant.
    assert np.mean([s[0] for s in covid]) >= 2.5
    assert np.mean([s[1] == 2 for s in covid]) >= 0.7
    assert sum(s[2] for s in covid) > 3 * sum(s[3] for s in covid)
    # Common pneumonia: one or two lesions, mostly unilateral, consolidation dominant.
    assert np.mean([s[0] for s in cp]) <= 1.5
    assert np.mean([s[1] == 1 for s in cp]) >= 0.7
    assert sum(s[3] for s in cp) > 3 * sum(s[2] for s in cp)


def test_hard_lesions_are_fewer_and_smaller():
    for pattern in ('covid', 'cp'):
        easy = [(m >= MASK_GGO).sum() for _, m, _ in render(pattern, 12)]
        hard = [(m >= MASK_GGO).sum() for _, m, _ in render(pattern, 12, hard=True)]
        assert 0 < np.median(hard) < 0.5 * np.median(easy)


def test_masks_match_the_drawn_lesions():
    for img, mask, _ in render('covid', 8) + render('cp', 8):
        lung = img[mask == MASK_LUNG].astype(float)
        ggo, cons = img[mask == MASK_GGO], img[mask == MASK_CONSOLIDATION]
        if len(ggo):
            assert ggo.mean() > np.median(lung) + 20
        if len(cons):
            assert cons.mean() > np.median(lung) + 60
        # The edge of the mask is an edge of the image: a ring just outside the lesion
        # (lung field only) is darker than a ring just inside it.
        lesion = (mask >= MASK_GGO).astype(np.uint8)
        kernel = np.ones((3, 3), np.uint8)
        outside = (cv2.dilate(lesion, kernel, iterations=2) > lesion) & (mask == MASK_LUNG)
        inside = lesion > cv2.erode(lesion, kernel, iterations=2)
        assert np.median(img[inside]) > np.median(img[outside]) + 10


def test_instances_at_512_survive_the_area_rule():
    areas = []
    for _, mask, _ in render('covid', 4, size=512) + render('cp', 3, size=512):
        _, _, stats, _ = cv2.connectedComponentsWithStats(
            (mask >= MASK_GGO).astype(np.uint8), connectivity=8)
        areas += stats[1:, cv2.CC_STAT_AREA].tolist()
    assert len(areas) >= 10 and min(areas) > 100


def test_output_folder_is_protected(tmp_path, capsys):
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'keep.txt').write_text('user data')
    with pytest.raises(FileExistsError, match='not empty and holds no phantom.json'):
        generate(str(foreign), 4, 0, size=64, frames_per_scan=2)
    out = str(tmp_path / 'ph')
    main(['--out', out, '--seg', '4', '--cls', '3', '--size', '64', '--frames-per-scan', '2',
          '--workers', '1'])
    assert 'phantom: 7 slices of 64x64' in capsys.readouterr().out
    with pytest.raises(FileExistsError, match='pass --overwrite'):
        generate(out, 4, 0, size=64, frames_per_scan=2)
    generate(out, 4, 0, size=64, frames_per_scan=2, overwrite=True)
    assert not osp.exists(osp.join(out, 'cls'))  # nothing stale survives a rewrite
    with pytest.raises(ValueError, match='expected at least two'):
        generate(str(tmp_path / 'one'), 2, 0, size=64, frames_per_scan=5)


def test_classification_split_has_many_patients_with_few_slices_each(tmp_path):
    """Patients, not slices, are what a classifier must generalise over: each
    has its own body, at most 2 slices by default, and one split only."""
    from collections import Counter

    generate(str(tmp_path), n_seg=0, n_cls=60, size=64, seed=1)
    split_of, slices = {}, Counter()
    for split in ('train', 'val', 'test'):
        for line in parse_label_file(f'{tmp_path}/cls/{split}_COVIDx_CT.txt'):
            patient = tuple(line.filename.split('_')[:2])  # (class prefix, patient)
            assert split_of.setdefault(patient, split) == split
            slices[patient] += 1
    assert max(slices.values()) <= 2 and len(slices) >= 30


def test_classification_slice_names_are_unique_at_the_demo_size():
    """Two draws of one patient in one slice number once shared a file name: one
    image overwrote the other and the label file listed it twice (10 of the demo's
    1,500 slices)."""
    tasks = plan_classification(1500, 0, 0.12, (0.6, 0.2, 0.2), 2)
    names = [t.image for t in tasks]
    assert len(names) == 1500 and len(set(names)) == 1500


def test_anatomy_does_not_depend_on_the_class():
    """The body is drawn from one distribution for every class: the same
    patient stream gives the same body whatever lesions are drawn."""
    rng = np.random.default_rng
    normal = render_slice(96, sample_anatomy(rng(5)), 0.5, 'normal', False, rng(6))
    covid = render_slice(96, sample_anatomy(rng(5)), 0.5, 'covid', False, rng(6))
    outside = covid[1] < MASK_GGO  # every pixel that is not a lesion
    assert (covid[1] >= MASK_GGO).any()
    assert np.array_equal(normal[1][outside] > 0, covid[1][outside] > 0)


def test_hard_slices_of_a_smaller_share_are_a_subset_and_the_default_is_the_demos():
    """Lowering --hard-frac turns hard slices ordinary without moving the others (one
    draw per slice against the share); the demo's test split has 8 hard slices at the
    default, against 32 at the earlier 0.12."""
    def hard(frac):
        return {t.image for t in plan_classification(1500, 0, frac, (0.6, 0.2, 0.2), 2)
                if t.hard and t.split == 'test'}

    assert HARD_FRAC == 0.03
    assert hard(HARD_FRAC) < hard(0.12) and (len(hard(HARD_FRAC)), len(hard(0.12))) == (8, 32)
    assert all(not name.split('/')[-1].startswith('Normal') for name in hard(0.12))


def test_the_demo_writes_the_phantom_anew_when_its_hard_share_differs(tmp_path, monkeypatch):
    import json
    import subprocess

    demo = load_tool('demo.py')
    calls = []
    monkeypatch.setattr(subprocess, 'run', lambda cmd, **kw: calls.append(cmd))
    os.makedirs(tmp_path / 'annotations')
    source = dict(name='phantom', synthetic=True, fov_mm=360.0)
    for frac, recorded, rewritten in ((HARD_FRAC, True, False), (0.12, True, True),
                                      (HARD_FRAC, False, True)):
        # (annotations converted before their data source was recorded: anew)
        (tmp_path / 'annotations' / 'covidx_test.json').write_text(json.dumps(
            dict(metainfo=dict(data_source=source) if recorded else {})))
        args = dict(seg=300, cls=1500, size=512, seed=0, slices_per_patient=2, hard_frac=frac)
        (tmp_path / 'phantom.json').write_text(
            json.dumps(dict(generator_version=GENERATOR_VERSION, args=args)))
        calls.clear()
        demo.prepare_data(str(tmp_path), 300, 1500, 0)
        assert bool(calls) == rewritten
