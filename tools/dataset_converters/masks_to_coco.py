"""Convert a folder of slice images and a folder of lesion masks to a COCO instance file.

The most common shape of public lesion data (COVID-SemiSeg / Inf-Net, MedSeg)::

    IMAGES/<stem>.jpg|.png      slice (8-bit, already display-windowed: read as it is)
    MASKS/<stem>.png            binary (0 / 255 or 0 / 1), or a label / palette PNG with
                                one value per lesion type

Each image is matched with the mask of the same stem (``0.jpg`` with ``0.png``).
Classes:

* default: a binary mask (values within {0, 1} or {0, 255}; any other value is an error
  that asks for ``--classes`` or ``--merge``), foreground above half its maximum, one
  class ``lesion``;
* ``--merge``: every non-zero value is ``lesion``;
* ``--classes 1:ground_glass,2:consolidation``: value -> class, in that order (category
  ids 1, 2, ...); a value not listed is an error naming the file.

Instances are 8-connected components of each class; components of ``<= --min-area``
pixels are dropped and counted. Slices without lesions are kept as images without
annotations (test sets) unless ``--drop-empty``. ``--split-file`` lists the stems to
convert, one per line. An image without a mask, a mask without an image, an unreadable
file or masks of another size stop the conversion with an error naming the file. The
COCO file records what the data is (``info.data_source``: ``--source-name``,
``--synthetic``, ``--fov-mm``) and the conversion (classes, connectivity, min area).

Example (COVID-SemiSeg, the Inf-Net test split)::

    python tools/dataset_converters/masks_to_coco.py \\
        --images covid_semiseg/Dataset/TestingSet/LungInfection-Test/Imgs \\
        --masks covid_semiseg/Dataset/TestingSet/LungInfection-Test/GT \\
        --out-dir data/covid_semiseg/annotations --name binary_test \\
        --source-name 'COVID-SemiSeg (Inf-Net), binary test'
"""
import argparse
import os
import os.path as osp
import sys
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from mmdet_covid.datasets.data_source import add_data_source_args, data_source_from_args
from mmdet_covid.datasets.mask_instances import mask_to_instances
from mmdet_covid.io.atomic_write import atomic_write_json
from mmdet_covid.utils.text_files import TextFileError, read_text_lines

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff')
MASK_EXTS = ('.png', '.bmp', '.tif', '.tiff')


class MaskFolderError(ValueError):
    """The images or masks do not fit the documented layout (the message names the file)."""


def parse_classes(text: str) -> Dict[str, Tuple[int, ...]]:
    """``'1:ground_glass,2:consolidation'`` -> ``{'ground_glass': (1,), 'consolidation':
    (2,)}`` (a class may list several values: ``'1:lesion,2:lesion'``)."""
    classes: Dict[str, Tuple[int, ...]] = {}
    for item in text.split(','):
        value, sep, name = item.partition(':')
        if not sep or not name.strip() or not value.strip().isdigit():
            raise MaskFolderError(f'--classes {text!r}: expected VALUE:NAME pairs separated '
                                  "by commas, e.g. '1:ground_glass,2:consolidation'")
        classes[name.strip()] = classes.get(name.strip(), ()) + (int(value), )
    return classes


def _files(folder: str, exts: Sequence[str], what: str) -> Dict[str, str]:
    if not osp.isdir(folder):
        raise MaskFolderError(f'{folder}: not a folder; expected the {what}')
    files: Dict[str, str] = {}
    for name in sorted(os.listdir(folder)):
        stem, ext = osp.splitext(name)
        if name.startswith('.') or ext.lower() not in exts:
            continue
        if stem in files:
            raise MaskFolderError(f'{folder}: {osp.basename(files[stem])} and {name} are two '
                                  f'{what} for one slice ({stem})')
        files[stem] = osp.join(folder, name)
    return files


def _read(path: str) -> np.ndarray:
    """A fully decoded image as an array (palette PNGs keep their indices)."""
    try:
        with Image.open(path) as img:
            img.load()
            return np.array(img)
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, ...
        raise MaskFolderError(f'{path}: unreadable or truncated ({exc})') from None


def read_label_mask(path: str) -> np.ndarray:
    """(H, W) uint8 values of a mask; a colour mask only when its channels are equal."""
    mask = _read(path)
    if mask.ndim == 3:
        if not all(np.array_equal(mask[..., 0], mask[..., c]) for c in range(1, mask.shape[2])):
            raise MaskFolderError(f'{path}: {mask.shape[2]} different channels; expected a '
                                  'single-channel mask')
        mask = mask[..., 0]
    return mask.astype(np.uint8) if mask.dtype == bool else mask


def class_values(mask: np.ndarray, path: str, classes: Optional[Dict[str, Tuple[int, ...]]],
                 merge: bool) -> Tuple[np.ndarray, Dict[str, Tuple[int, ...]]]:
    """The mask and the class -> values map that turn it into instances (module
    docstring's rules)."""
    values = set(int(v) for v in np.unique(mask))
    if classes is not None:
        known = {v for vals in classes.values() for v in vals} | {0}
        unknown = sorted(values - known)
        if unknown:
            raise MaskFolderError(f'{path}: mask values {unknown} are not in --classes '
                                  f'{dict(classes)}; expected only 0 and the listed values')
        return mask, classes
    if merge:
        return (mask > 0).astype(np.uint8), {'lesion': (1, )}
    if not values <= {0, 1} and not values <= {0, 255}:
        raise MaskFolderError(f'{path}: mask values {sorted(values)[:8]}; expected a binary '
                              'mask (0/1 or 0/255). For a label mask pass --classes '
                              "'1:ground_glass,2:consolidation' or --merge")
    return (mask > 0).astype(np.uint8), {'lesion': (1, )}


def convert(images: str, masks: str, classes: Optional[Dict[str, Tuple[int, ...]]] = None,
            merge: bool = False, min_area: int = 10, split_file: Optional[str] = None,
            drop_empty: bool = False) -> Tuple[dict, dict]:
    """The COCO dict and a summary (slices, images, instances per class, dropped)."""
    image_files = _files(images, IMAGE_EXTS, 'slice images')
    mask_files = _files(masks, MASK_EXTS, 'masks')
    stems = sorted(image_files, key=lambda s: (len(s), s))
    if split_file:
        try:
            wanted = [line for _, line in read_text_lines(split_file)]
        except TextFileError as exc:
            raise MaskFolderError(str(exc)) from None
        missing = [s for s in wanted if s not in image_files]
        if missing:
            raise MaskFolderError(f'{split_file}: {len(missing)} stem(s) without an image in '
                                  f'{images}, e.g. {missing[0]!r}')
        stems = wanted
    without_mask = [s for s in stems if s not in mask_files]
    if without_mask:
        raise MaskFolderError(f'{images}: {len(without_mask)} image(s) without a mask in '
                              f'{masks}, e.g. {osp.basename(image_files[without_mask[0]])}')
    if not split_file:
        orphans = sorted(set(mask_files) - set(image_files))
        if orphans:
            raise MaskFolderError(f'{masks}: {len(orphans)} mask(s) without an image in '
                                  f'{images}, e.g. {osp.basename(mask_files[orphans[0]])}')
    names = list(classes) if classes is not None else ['lesion']
    categories = [dict(id=i + 1, name=n) for i, n in enumerate(names)]
    images_out: List[dict] = []
    annotations: List[dict] = []
    counts: Counter = Counter()
    for stem in stems:
        img = _read(image_files[stem])
        mask = read_label_mask(mask_files[stem])
        if mask.shape[:2] != img.shape[:2]:
            raise MaskFolderError(f'{mask_files[stem]}: {mask.shape[1]}x{mask.shape[0]} '
                                  f'pixels, its image {img.shape[1]}x{img.shape[0]}; expected '
                                  'one size')
        mask, mapping = class_values(mask, mask_files[stem], classes, merge)
        found = []
        for cat_id, name in enumerate(names, start=1):
            instances, dropped = mask_to_instances(mask, mapping[name], min_area)
            counts['dropped_by_area'] += dropped
            counts[f'instances_{name}'] += len(instances)
            found += [dict(inst, category_id=cat_id) for inst in instances]
        counts['slices'] += 1
        if not found:
            counts['without_lesions'] += 1
            if drop_empty:
                continue
        image_id = len(images_out) + 1
        images_out.append(dict(id=image_id, file_name=osp.basename(image_files[stem]),
                               height=int(img.shape[0]), width=int(img.shape[1])))
        for inst in found:
            annotations.append(dict(id=len(annotations) + 1, image_id=image_id, iscrowd=0,
                                    **inst))
    if not images_out:
        raise MaskFolderError(f'{images}: no image left to write ({counts["slices"]} slices, '
                              f'{counts["without_lesions"]} without lesions)')
    coco = dict(
        info=dict(description='converted by tools/dataset_converters/masks_to_coco.py',
                  classes=({n: list(v) for n, v in classes.items()} if classes is not None
                           else 'lesion: every non-zero value' if merge
                           else 'lesion: the foreground of a binary mask'),
                  connectivity=8, min_area=min_area, drop_empty=drop_empty,
                  images=osp.abspath(images), masks=osp.abspath(masks)),
        licenses=[], categories=categories, images=images_out, annotations=annotations)
    summary = dict(slices=counts['slices'], images=len(images_out),
                   without_lesions=counts['without_lesions'],
                   instances={n: counts[f'instances_{n}'] for n in names},
                   dropped_by_area=counts['dropped_by_area'])
    return coco, summary


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--images', required=True, help='folder of slice images')
    parser.add_argument('--masks', required=True, help='folder of masks, same stems')
    parser.add_argument('--out-dir', required=True, help='where the COCO file goes')
    parser.add_argument('--name', default='annotations', help='file name, without .json')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--classes', metavar='VALUE:NAME,...',
                       help="label masks: value -> class, e.g. '1:ground_glass,2:consolidation'")
    group.add_argument('--merge', action='store_true',
                       help='every non-zero mask value is one class, lesion')
    parser.add_argument('--min-area', type=int, default=10,
                        help='components of <= this many pixels are not instances')
    parser.add_argument('--split-file', help='stems to convert, one per line')
    parser.add_argument('--drop-empty', action='store_true',
                        help='leave out slices without lesions (training sets)')
    add_data_source_args(parser)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    try:
        source = data_source_from_args(args, f'slices in {osp.abspath(args.images)}')
        classes = parse_classes(args.classes) if args.classes else None
        coco, summary = convert(args.images, args.masks, classes, args.merge,
                                args.min_area, args.split_file, args.drop_empty)
    except ValueError as exc:  # MaskFolderError, or a bad --fov-mm
        sys.exit(f'error: {exc}')
    coco['info']['data_source'] = source
    out = osp.join(args.out_dir, f'{args.name}.json')
    atomic_write_json(coco, out)
    instances = ', '.join(f'{n} {k}' for n, k in summary['instances'].items())
    print(f'wrote {out}\n  slices read             {summary["slices"]}\n'
          f'  images written          {summary["images"]}\n'
          f'  slices without lesions  {summary["without_lesions"]}'
          f'{" (dropped)" if args.drop_empty else " (kept)"}\n'
          f'  instances               {instances}\n'
          f'  dropped by area         {summary["dropped_by_area"]} (<= {args.min_area} px, '
          '8-connected components)')
    return summary


if __name__ == '__main__':
    main()
