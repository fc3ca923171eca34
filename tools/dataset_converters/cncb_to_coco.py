"""Convert the CNCB-nCoV lesion set (slices + value masks) to a COCO instance file.

Input layout (as published)::

    IMG_DIR/<scan>/<frame>.jpg|.png     CT slice
    MASK_DIR/<scan>/<frame>.png         0 background, 1 lung field, 2 ground-glass
                                        opacity (GGO), 3 consolidation

Mask values are mapped explicitly (never by their rank among the values present):
with ``--classes merged`` (the paper) GGO and consolidation form one class ``lesion``;
with ``--classes ggo-consolidation`` they are two classes. An instance is an
8-connected component of a class; its box is the tight box of the component and its
mask is stored as compressed RLE. Components of ``<= --min-area`` pixels are not
instances. Slices without instances are dropped (training protocol) unless
``--keep-empty`` (test protocol) keeps them as images without annotations.

``--split-file`` lists what to convert, one entry per line: a scan (all its frames) or
``<scan>/<frame>`` (one slice, extension optional).

``--other-splits`` names the other split files: a scan in two splits stops the
conversion (its slices would leak between training and test).

Bad input stops the conversion with an error naming the file and what was expected;
``--skip-bad`` instead skips such slices and counts them in the summary. What it does
not skip: a split file that is not UTF-8 text or names no slice of the folders, a scan
in two splits, two files for one slice. The COCO file is written through a temporary
file, so a failed run leaves an older one intact.

Example::

    python tools/dataset_converters/cncb_to_coco.py --img-dir data/cncb/image \\
        --mask-dir data/cncb/mask --split-file data/cncb/train.txt \\
        --out data/cncb/annotations/lesion_train.json
"""
import argparse
import os
import os.path as osp
import re
import sys
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from mmdet_covid.datasets.data_source import add_data_source_args, data_source_from_args
from mmdet_covid.datasets.mask_instances import mask_to_instances
from mmdet_covid.io.atomic_write import atomic_write_json
from mmdet_covid.utils.text_files import TextFileError, read_text_lines

IMAGE_EXTS = ('.jpg', '.jpeg', '.png')
MASK_EXT = '.png'
MASK_VALUES = {0: 'background', 1: 'lung field', 2: 'ground-glass opacity',
               3: 'consolidation'}
# Category name -> mask values that belong to it; ids are 1-based in this order.
CLASS_MAPPINGS: Dict[str, Dict[str, Tuple[int, ...]]] = {
    'merged': {'lesion': (2, 3)},
    'ggo-consolidation': {'GGO': (2,), 'consolidation': (3,)},
}


class CNCBFormatError(ValueError):
    """The input does not follow the CNCB-nCoV lesion-set format.

    Args:
        message: names the file (and line) and what was expected.
        reason: short category, the key under which ``--skip-bad`` counts the slice.
    """

    def __init__(self, message: str, reason: str = 'invalid input') -> None:
        super().__init__(message)
        self.reason = reason


def natural_key(text: str) -> list:
    """Sort key that orders ``frame2`` before ``frame10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', text)]


def read_image_size(path: str) -> Tuple[int, int]:
    """Fully decode an image (so that truncation is caught) and return (height, width)."""
    try:
        with Image.open(path) as img:
            img.load()
            return img.height, img.width
    except FileNotFoundError:
        raise CNCBFormatError(f'{path}: image not found', 'missing image') from None
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, ...
        raise CNCBFormatError(f'{path}: unreadable or truncated image ({exc}); expected a '
                              'complete JPEG or PNG file', 'unreadable image') from None


def read_mask(path: str) -> np.ndarray:
    """Read a value mask as (H, W) uint8, checking its values are in 0-3.

    PIL keeps palette PNGs as indices (cv2 would expand them to colours); a 3-channel
    mask is accepted only when its channels are equal.
    """
    try:
        with Image.open(path) as img:
            img.load()
            mask = np.array(img)
    except FileNotFoundError:
        raise CNCBFormatError(f'{path}: mask not found', 'missing mask') from None
    except Exception as exc:
        raise CNCBFormatError(f'{path}: unreadable or truncated mask ({exc}); expected a '
                              'complete PNG file', 'unreadable mask') from None
    if mask.ndim == 3:
        if not all(np.array_equal(mask[..., 0], mask[..., c]) for c in range(1, mask.shape[2])):
            raise CNCBFormatError(f'{path}: mask has {mask.shape[2]} different channels; '
                                  'expected a single-channel value mask',
                                  'multi-channel mask')
        mask = mask[..., 0]
    values = np.unique(mask)
    bad = [int(v) for v in values if int(v) not in MASK_VALUES]
    if bad:
        raise CNCBFormatError(f'{path}: mask values {bad} outside 0-3; expected 0 '
                              'background, 1 lung field, 2 GGO, 3 consolidation',
                              'mask value outside 0-3')
    return mask.astype(np.uint8)


def list_slices(img_dir: str, mask_dir: str) -> List[Tuple[str, str, Optional[str]]]:
    """Pair every image with its mask.

    Returns:
        (stem, image path or None, mask path or None) sorted by scan and frame; ``stem``
        is ``<scan>/<frame>`` without extension.
    """
    for d, what in ((img_dir, '--img-dir'), (mask_dir, '--mask-dir')):
        if not osp.isdir(d):
            raise CNCBFormatError(f'{d}: {what} is not a directory; expected <scan>/<frame> '
                                  'files below it')

    def scan(root: str, exts: Tuple[str, ...]) -> Dict[str, str]:
        found = {}
        for dirpath, _, files in os.walk(root):
            for f in files:
                stem, ext = osp.splitext(f)
                if ext.lower() in exts:
                    rel = osp.relpath(osp.join(dirpath, stem), root).replace(os.sep, '/')
                    if rel in found:
                        raise CNCBFormatError(f'{osp.join(dirpath, f)}: a second file for '
                                              f'slice {rel} ({found[rel]}); expected one')
                    found[rel] = osp.join(dirpath, f)
        return found

    images, masks = scan(img_dir, IMAGE_EXTS), scan(mask_dir, (MASK_EXT,))
    stems = sorted(set(images) | set(masks), key=natural_key)
    return [(s, images.get(s), masks.get(s)) for s in stems]


def read_split_file(path: str) -> List[Tuple[int, str]]:
    """(line number, entry) of a split file; entries are scans or ``<scan>/<frame>``."""
    if not osp.isfile(path):
        raise CNCBFormatError(f'{path}: split file not found')
    try:
        numbered = read_text_lines(path)
    except TextFileError as exc:
        raise CNCBFormatError(str(exc), 'not UTF-8 text') from None
    entries = []
    for lineno, line in numbered:
        entry = line.strip().replace('\\', '/').strip('/')
        if entry:
            stem, ext = osp.splitext(entry)
            entries.append((lineno, stem if ext.lower() in IMAGE_EXTS else entry))
    if not entries:
        raise CNCBFormatError(f'{path}: empty split; expected one scan or <scan>/<frame> '
                              'per line')
    return entries


def select_split(slices: List[Tuple[str, Optional[str], Optional[str]]], split_file: str
                 ) -> List[Tuple[str, Optional[str], Optional[str]]]:
    """Keep the slices named by the split file (every entry must match something)."""
    entries = read_split_file(split_file)
    by_stem = {s[0]: s for s in slices}
    by_scan: Dict[str, List[str]] = {}
    for stem, _, _ in slices:
        by_scan.setdefault(scan_of(stem), []).append(stem)
    chosen = set()
    for lineno, entry in entries:
        if entry in by_stem:
            chosen.add(entry)
        elif entry in by_scan:
            chosen.update(by_scan[entry])
        else:
            raise CNCBFormatError(f'{split_file}:{lineno}: {entry!r} is neither a scan nor a '
                                  '<scan>/<frame> slice of the image/mask directories')
    return [s for s in slices if s[0] in chosen]


def scan_of(stem: str) -> str:
    """The scan of a ``<scan>/<frame>`` stem (the folders above the frame)."""
    return stem.rsplit('/', 1)[0] if '/' in stem else ''


def check_no_shared_scans(slices: List[Tuple[str, Optional[str], Optional[str]]],
                          split_file: str, other_splits: Sequence[str],
                          all_slices: List[Tuple[str, Optional[str], Optional[str]]]) -> None:
    """Stop when a scan of this split is also (in part) in another split file.

    Slices of one scan are neighbours in one patient's body: a scan in two splits
    lets the test set see its training slices.
    """
    scans = {scan_of(s[0]) for s in slices}
    for other in other_splits:
        shared = scans & {scan_of(s[0]) for s in select_split(all_slices, other)}
        if shared:
            names = sorted(shared, key=natural_key)
            raise CNCBFormatError(
                f'{len(names)} scan(s) in both {split_file} and {other}: '
                f'{", ".join(names[:10])}{" ..." if len(names) > 10 else ""}; expected '
                'splits by scan (every slice of a scan in one split)', 'scan in two splits')


def convert_cncb(img_dir: str, mask_dir: str, split_file: Optional[str] = None,
                 min_area: int = 100, classes: str = 'merged', keep_empty: bool = False,
                 skip_bad: bool = False, other_splits: Sequence[str] = ()
                 ) -> Tuple[dict, dict]:
    """Build the COCO instance dict of a CNCB-nCoV lesion set.

    Args:
        img_dir: directory with ``<scan>/<frame>.jpg|png`` slices.
        mask_dir: directory with ``<scan>/<frame>.png`` value masks.
        split_file: optional list of scans / slices to convert.
        min_area: components of ``<= min_area`` pixels are not instances.
        classes: ``merged`` (one class, lesion) or ``ggo-consolidation``.
        keep_empty: keep slices without instances as images without annotations.
        skip_bad: skip (and count) slices with a missing, unreadable or inconsistent
            file instead of stopping.
        other_splits: the other split files of the data set; a scan of this split
            that is also in one of them stops the conversion.

    Returns:
        The COCO dict (``file_name`` relative to ``img_dir``) and the summary counts.
    """
    if classes not in CLASS_MAPPINGS:
        raise ValueError(f'--classes {classes!r}: expected one of {sorted(CLASS_MAPPINGS)}')
    mapping = CLASS_MAPPINGS[classes]
    all_slices = slices = list_slices(img_dir, mask_dir)
    if split_file:
        slices = select_split(slices, split_file)
    if other_splits:
        if not split_file:
            raise ValueError('other_splits needs split_file: without one every scan is '
                             'converted')
        check_no_shared_scans(slices, split_file, other_splits, all_slices)
    if not slices:
        raise CNCBFormatError(f'no slices found in {img_dir} and {mask_dir}'
                              + (f' for split {split_file}' if split_file else '')
                              + f'; expected <scan>/<frame>{{{",".join(IMAGE_EXTS)}}} images '
                              'with <scan>/<frame>.png masks')
    categories = [dict(id=i, name=name, supercategory='lesion')
                  for i, name in enumerate(mapping, 1)]
    images, annotations = [], []
    skipped: Counter = Counter()
    counts = Counter()
    for stem, img_path, mask_path in slices:
        try:
            if img_path is None:
                raise CNCBFormatError(f'{mask_path}: mask without an image; expected '
                                      f'{osp.join(img_dir, stem)}{{{",".join(IMAGE_EXTS)}}}',
                                      'missing image')
            if mask_path is None:
                raise CNCBFormatError(f'{img_path}: image without a mask; expected '
                                      f'{osp.join(mask_dir, stem)}{MASK_EXT}', 'missing mask')
            height, width = read_image_size(img_path)
            mask = read_mask(mask_path)
            if mask.shape != (height, width):
                raise CNCBFormatError(
                    f'{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} but its image '
                    f'{img_path} is {width}x{height} (width x height); expected equal sizes',
                    'mask size differs from image')
        except CNCBFormatError as exc:
            if not skip_bad:
                raise
            skipped[exc.reason] += 1
            print(f'skipped: {exc}', file=sys.stderr)
            continue
        found = []
        for cat_id, values in enumerate(mapping.values(), 1):
            instances, dropped = mask_to_instances(mask, values, min_area)
            counts['dropped_by_area'] += dropped
            found += [dict(inst, category_id=cat_id) for inst in instances]
        if not found:
            counts['without_lesions'] += 1
            if not keep_empty:
                continue
        image_id = len(images) + 1
        scan, _, frame = stem.rpartition('/')
        images.append(dict(id=image_id, file_name=osp.relpath(img_path, img_dir).replace(
            os.sep, '/'), height=height, width=width, scan=scan, frame=frame))
        for inst in found:
            annotations.append(dict(id=len(annotations) + 1, image_id=image_id, iscrowd=0,
                                    **inst))
    if not images:
        raise CNCBFormatError(
            f'no image left to write from {img_dir} ({len(slices)} slices, '
            f'{counts["without_lesions"]} without lesions, {sum(skipped.values())} skipped); '
            'pass --keep-empty to keep slices without lesions')
    coco = dict(
        info=dict(description='CNCB-nCoV lesion set converted by '
                              'tools/dataset_converters/cncb_to_coco.py',
                  classes=classes, min_area=min_area, keep_empty=keep_empty,
                  split_file=split_file),
        licenses=[], categories=categories, images=images, annotations=annotations)
    summary = dict(slices=len(slices), images=len(images),
                   without_lesions=counts['without_lesions'],
                   without_lesions_kept=counts['without_lesions'] if keep_empty else 0,
                   instances=len(annotations), dropped_by_area=counts['dropped_by_area'],
                   skipped=dict(skipped))
    return coco, summary


def format_summary(summary: dict, min_area: int, out: str) -> str:
    kept = 'kept' if summary['without_lesions_kept'] else 'dropped'
    lines = [f'wrote {out}',
             f'  slices read                  {summary["slices"]}',
             f'  images written               {summary["images"]}',
             f'  images without lesions       {summary["without_lesions"]} ({kept})',
             f'  instances                    {summary["instances"]}',
             f'  instances dropped by area    {summary["dropped_by_area"]} (<= {min_area} px)']
    skipped = summary['skipped']
    lines.append(f'  slices skipped (--skip-bad)  {sum(skipped.values())}')
    lines += [f'    {n:5d}  {reason}' for reason, n in sorted(skipped.items())]
    return '\n'.join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--img-dir', required=True, help='<scan>/<frame>.jpg|png slices')
    parser.add_argument('--mask-dir', required=True, help='<scan>/<frame>.png value masks')
    parser.add_argument('--out', required=True, help='COCO json to write')
    parser.add_argument('--split-file', help='scans or <scan>/<frame> slices, one per line')
    parser.add_argument('--other-splits', nargs='+', default=[], metavar='TXT',
                        help='the other split files: stop if one of them shares a scan '
                             'with --split-file')
    parser.add_argument('--min-area', type=int, default=100,
                        help='components of <= this many pixels are not instances')
    parser.add_argument('--classes', choices=sorted(CLASS_MAPPINGS), default='merged',
                        help='merged: one class "lesion" (GGO + consolidation)')
    parser.add_argument('--keep-empty', action='store_true',
                        help='keep slices without lesions as images without annotations')
    parser.add_argument('--skip-bad', action='store_true',
                        help='skip and count slices with missing, unreadable or inconsistent '
                             'files instead of stopping')
    add_data_source_args(parser)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    try:
        source = data_source_from_args(
            args, f'CNCB-nCoV format lesion set in {osp.abspath(args.img_dir)}')
        coco, summary = convert_cncb(args.img_dir, args.mask_dir, args.split_file,
                                     args.min_area, args.classes, args.keep_empty,
                                     args.skip_bad, args.other_splits)
    except (CNCBFormatError, ValueError) as exc:
        sys.exit(f'error: {exc}')
    coco['info']['data_source'] = source
    atomic_write_json(coco, args.out)
    print(format_summary(summary, args.min_area, args.out))
    return summary


if __name__ == '__main__':
    main()
