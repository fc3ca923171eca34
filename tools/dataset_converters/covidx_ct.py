"""Convert a COVIDx-CT split file to the annotation file of ``CTSliceClsDataset``.

A split file (e.g. ``train_COVIDx_CT-2A.txt``) has one slice per line::

    filename class xmin ymin xmax ymax

with class 0 Normal, 1 common pneumonia (CP), 2 COVID-19 and the body box in pixels
(xmax, ymax exclusive). The output is mmengine's annotation format::

    {"metainfo": {"classes": ["Normal", "CP", "COVID-19"], ...},
     "data_list": [{"img_path": ..., "gt_label": 2, "patient_id": "NCP_96",
                    "body_bbox": [x1, y1, x2, y2], "crop_bbox": [...]}, ...]}

``img_path`` is relative to ``--relative-to`` (default: ``--img-dir``). Options:
``--per-class N --seed S`` draws a balanced subsample (the paper trains on 1,000 slices
per class); ``--crop-body`` adds ``crop_bbox`` so that the ``BodyCrop`` transform crops
to the body box; ``--other-splits`` reports patients (parsed from the file name, see
``--patient-regex``) that also appear in other split files.

Every line and every selected image is checked. A file that is not UTF-8 (or starts with
a byte-order mark), a wrong column count, a file name with spaces, a non-integer value, a
class outside 0-2, an empty or inverted box, a slice listed twice, or listed with two
labels, a box outside the image, a missing, unreadable or truncated image, an empty
split: each stops with an error naming the file and line. ``--skip-bad`` skips (and
counts, by reason) every bad line and slice instead; the encoding of the file and an
empty split still stop it. The annotation file is written through a temporary file, so
a failed run leaves an older one intact.

Example::

    python tools/dataset_converters/covidx_ct.py \\
        --label-file data/covidx/train_COVIDx_CT-2A.txt --img-dir data/covidx/2A_images \\
        --out data/covidx/annotations/covidx_train.json --per-class 1000 --seed 0 \\
        --other-splits data/covidx/val_COVIDx_CT-2A.txt data/covidx/test_COVIDx_CT-2A.txt
"""
import argparse
import os
import os.path as osp
import re
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from mmdet_covid.datasets.ct_slice_cls_dataset import COVIDX_CLASSES
from mmdet_covid.datasets.data_source import add_data_source_args, data_source_from_args
from mmdet_covid.io.atomic_write import atomic_write_json
from mmdet_covid.utils.text_files import TextFileError, read_text_lines

IMAGE_EXTS = ('.png', '.jpg', '.jpeg')
# CNCB names: {NCP|CP|Normal}_{patient}_{scan}_{slice}.png; other COVIDx-CT sources
# (e.g. radiopaedia_{case}_..., coronacases_{case}_...) also start with source_patient.
DEFAULT_PATIENT_REGEX = r'^([^_]+_[^_]+)_'


class COVIDxFormatError(ValueError):
    """The input does not follow the COVIDx-CT format.

    Args:
        message: names the file (and line) and what was expected.
        reason: short category, the key under which ``--skip-bad`` counts the slice.
    """

    def __init__(self, message: str, reason: str = 'invalid input') -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class LabelLine:
    """One parsed line of a split file."""
    lineno: int
    filename: str
    label: int
    box: Tuple[int, int, int, int]  # xmin, ymin, xmax, ymax (max exclusive)


def _parse_line(path: str, lineno: int, cols: List[str]) -> LabelLine:
    """Check the 6 columns of one line; raises COVIDxFormatError with a reason."""
    where = f'{path}:{lineno}'
    # `my slice.png 2 ...`: the first column is not a whole image name
    if (len(cols) > 6 and not cols[0].lower().endswith(IMAGE_EXTS)
            and all(re.fullmatch(r'-?\d+', v) for v in cols[-5:])):
        name = ' '.join(cols[:-5])
        raise COVIDxFormatError(f'{where}: file name with spaces {name!r}; expected a name '
                                'without spaces (the columns are separated by spaces)',
                                'file name with spaces')
    if len(cols) != 6:
        raise COVIDxFormatError(f'{where}: {len(cols)} columns; expected 6: filename '
                                'class xmin ymin xmax ymax', 'wrong column count')
    try:
        label, *box = (int(v) for v in cols[1:])
    except ValueError:
        raise COVIDxFormatError(f'{where}: {" ".join(cols[1:])!r}; expected integers '
                                'for class xmin ymin xmax ymax', 'not an integer') from None
    if not 0 <= label < len(COVIDX_CLASSES):
        raise COVIDxFormatError(f'{where}: class {label}; expected 0 (Normal), 1 (CP) '
                                'or 2 (COVID-19)', 'class outside 0-2')
    x1, y1, x2, y2 = box
    if not (0 <= x1 < x2 and 0 <= y1 < y2):
        raise COVIDxFormatError(f'{where}: box {box}; expected 0 <= xmin < xmax and '
                                '0 <= ymin < ymax', 'empty or inverted box')
    return LabelLine(lineno, cols[0], label, (x1, y1, x2, y2))


def parse_label_file(path: str, skipped: Optional[Counter] = None) -> List[LabelLine]:
    """Parse and check every line of a COVIDx-CT split file (blank lines are ignored).

    Args:
        path: the split file (UTF-8 text).
        skipped: ``--skip-bad``: count bad lines here by reason (and print them)
            instead of stopping. A slice listed twice keeps its first line; a slice
            listed with two different labels or boxes is dropped altogether (which
            line is right cannot be told).

    Raises:
        COVIDxFormatError: on a missing, empty or non-UTF-8 file, and (without
            ``skipped``) on a wrong column count, a file name with spaces, a
            non-integer value, a class outside 0-2, an empty / inverted box, a
            repeated line or a slice listed with two labels.
    """
    if not osp.isfile(path):
        raise COVIDxFormatError(f'{path}: label file not found')
    try:
        numbered = read_text_lines(path)
    except TextFileError as exc:
        raise COVIDxFormatError(str(exc), 'not UTF-8 text') from None

    def bad(exc: COVIDxFormatError, n: int = 1) -> None:
        if skipped is None:
            raise exc
        skipped[exc.reason] += n
        print(f'skipped: {exc}', file=sys.stderr)

    first: Dict[str, LabelLine] = {}
    conflicts: Dict[str, List[int]] = {}
    for lineno, text in numbered:
        cols = text.split()
        if not cols:
            continue
        try:
            line = _parse_line(path, lineno, cols)
        except COVIDxFormatError as exc:
            bad(exc)
            continue
        seen = first.get(line.filename)
        if seen is None:
            first[line.filename] = line
        elif (seen.label, seen.box) == (line.label, line.box):
            bad(COVIDxFormatError(f'{path}:{lineno}: {line.filename} repeats line '
                                  f'{seen.lineno}; expected each slice once', 'repeated line'))
        else:
            conflicts.setdefault(line.filename, [seen.lineno]).append(lineno)
            if skipped is None:
                raise COVIDxFormatError(
                    f'{path}:{lineno}: {line.filename} has class {line.label} box '
                    f'{list(line.box)} but line {seen.lineno} gave it class {seen.label} box '
                    f'{list(seen.box)}; expected one label per slice', 'conflicting labels')
    for name, linenos in conflicts.items():
        bad(COVIDxFormatError(f'{path}: {name} is listed with different labels or boxes on '
                              f'lines {", ".join(map(str, linenos))}; dropped',
                              'conflicting labels'), len(linenos))
        del first[name]
    lines = sorted(first.values(), key=lambda line: line.lineno)
    if not lines:
        raise COVIDxFormatError(f'{path}: empty split; expected lines `filename class xmin '
                                'ymin xmax ymax`')
    return lines


def patient_id(filename: str, pattern: str = DEFAULT_PATIENT_REGEX) -> Optional[str]:
    """Patient of a slice from its file name (group 1 of ``pattern``), None if no match."""
    m = re.search(pattern, osp.basename(filename))
    return m.group(1) if m else None


def find_shared_patients(label_files: Sequence[str], pattern: str = DEFAULT_PATIENT_REGEX,
                         skip_bad: bool = False) -> Tuple[Dict[str, List[str]], int]:
    """Patients whose slices appear in more than one split file (``skip_bad``: bad
    lines of the files are left out, see :func:`parse_label_file`).

    Returns:
        {patient: [split files it appears in]} for the shared ones, and the number of
        file names the pattern could not parse.
    """
    seen: Dict[str, List[str]] = {}
    unparsed = 0
    for path in label_files:
        for line in parse_label_file(path, Counter() if skip_bad else None):
            pid = patient_id(line.filename, pattern)
            if pid is None:
                unparsed += 1
                continue
            files = seen.setdefault(pid, [])
            if path not in files:
                files.append(path)
    return {p: f for p, f in sorted(seen.items()) if len(f) > 1}, unparsed


def balanced_subsample(lines: List[LabelLine], per_class: int, seed: int,
                       path: str = '<label file>') -> List[LabelLine]:
    """``per_class`` random lines of each class (file order kept)."""
    rng = np.random.default_rng(seed)
    keep = []
    labels = np.array([line.label for line in lines])
    for c, name in enumerate(COVIDX_CLASSES):
        idx = np.nonzero(labels == c)[0]
        if len(idx) < per_class:
            raise COVIDxFormatError(f'{path}: {len(idx)} slices of class {c} ({name}); '
                                    f'expected at least --per-class {per_class}')
        keep += rng.choice(idx, per_class, replace=False).tolist()
    return [lines[i] for i in sorted(keep)]


def read_image_size(path: str) -> Tuple[int, int]:
    """Fully decode an image (so that truncation is caught) and return (height, width)."""
    try:
        with Image.open(path) as img:
            img.load()
            return img.height, img.width
    except FileNotFoundError:
        raise COVIDxFormatError(f'{path}: image not found', 'missing image') from None
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, ...
        raise COVIDxFormatError(f'{path}: unreadable or truncated image ({exc}); expected a '
                                'complete PNG or JPEG file', 'unreadable image') from None


def convert_covidx(label_file: str, img_dir: str, relative_to: Optional[str] = None,
                   per_class: Optional[int] = None, seed: int = 0, crop_body: bool = False,
                   skip_bad: bool = False, patient_regex: str = DEFAULT_PATIENT_REGEX
                   ) -> Tuple[dict, dict]:
    """Build the annotation dict of one COVIDx-CT split.

    Args:
        label_file: the split file.
        img_dir: folder holding its images.
        relative_to: folder ``img_path`` is written relative to (default ``img_dir``).
        per_class: draw this many slices per class (balanced subsample).
        seed: seed of the subsample.
        crop_body: add ``crop_bbox`` (the body box) to every sample.
        skip_bad: skip and count bad lines of the split file (see
            :func:`parse_label_file`) and slices whose image is missing or unreadable
            or whose box does not fit the image, instead of stopping.
        patient_regex: group 1 is the patient id of a file name.

    Returns:
        The annotation dict and the summary counts.
    """
    skipped: Counter = Counter()
    lines = parse_label_file(label_file, skipped if skip_bad else None)
    n_lines = len(lines) + sum(skipped.values())
    if per_class is not None:
        lines = balanced_subsample(lines, per_class, seed, label_file)
    root = relative_to if relative_to is not None else img_dir
    data_list = []
    for line in lines:
        path = osp.join(img_dir, line.filename)
        try:
            height, width = read_image_size(path)
            x1, y1, x2, y2 = line.box
            if x2 > width or y2 > height:
                raise COVIDxFormatError(
                    f'{label_file}:{line.lineno}: box {list(line.box)} exceeds the '
                    f'{width}x{height} image {path}; expected xmax <= width, ymax <= height',
                    'box outside the image')
        except COVIDxFormatError as exc:
            if not skip_bad:
                if exc.reason == 'box outside the image':
                    raise
                raise COVIDxFormatError(f'{label_file}:{line.lineno}: {exc}',
                                        exc.reason) from None
            skipped[exc.reason] += 1
            print(f'skipped: {label_file}:{line.lineno}: {exc}', file=sys.stderr)
            continue
        info = dict(img_path=osp.relpath(path, root).replace(os.sep, '/'),
                    gt_label=line.label, patient_id=patient_id(line.filename, patient_regex),
                    body_bbox=list(line.box), height=height, width=width)
        if crop_body:
            info['crop_bbox'] = list(line.box)
        data_list.append(info)
    if not data_list:
        raise COVIDxFormatError(f'{label_file}: no slice left ({sum(skipped.values())} '
                                'skipped); expected at least one')
    per_label = Counter(d['gt_label'] for d in data_list)
    annotation = dict(
        metainfo=dict(classes=list(COVIDX_CLASSES), dataset='COVIDx-CT',
                      label_file=osp.basename(label_file), per_class=per_class,
                      seed=seed if per_class is not None else None, crop_body=crop_body),
        data_list=data_list)
    summary = dict(lines=n_lines, selected=len(lines), written=len(data_list),
                   per_class={name: per_label.get(c, 0) for c, name in enumerate(COVIDX_CLASSES)},
                   skipped=dict(skipped))
    return annotation, summary


def format_summary(summary: dict, out: str) -> str:
    lines = [f'wrote {out}',
             f'  lines in the split file     {summary["lines"]}',
             f'  selected                    {summary["selected"]}',
             f'  written                     {summary["written"]}  ('
             + ', '.join(f'{k} {v}' for k, v in summary['per_class'].items()) + ')',
             f'  skipped (--skip-bad)        {sum(summary["skipped"].values())}']
    lines += [f'    {n:5d}  {reason}' for reason, n in sorted(summary['skipped'].items())]
    return '\n'.join(lines)


def format_leakage(label_files: Sequence[str], shared: Dict[str, List[str]],
                   unparsed: int) -> str:
    head = f'patients in more than one of {len(label_files)} split files: {len(shared)}'
    lines = [head] + [f'  {p}: {", ".join(files)}' for p, files in shared.items()]
    if unparsed:
        lines.append(f'  ({unparsed} file names without a patient id; see --patient-regex)')
    return '\n'.join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--label-file', required=True,
                        help='split file: filename class xmin ymin xmax ymax')
    parser.add_argument('--img-dir', required=True, help='folder holding the images')
    parser.add_argument('--out', required=True, help='annotation json to write')
    parser.add_argument('--relative-to', help='write img_path relative to this folder '
                                              '(default: --img-dir)')
    parser.add_argument('--per-class', type=int, help='balanced subsample: slices per class')
    parser.add_argument('--seed', type=int, default=0, help='seed of the subsample')
    parser.add_argument('--crop-body', action='store_true',
                        help='store the body box as crop_bbox (cropped by BodyCrop)')
    parser.add_argument('--skip-bad', action='store_true',
                        help='skip and count bad lines (column count, class, box, repeated '
                             'or conflicting lines) and slices with a missing or unreadable '
                             'image or a box outside it, instead of stopping')
    parser.add_argument('--other-splits', nargs='+', default=[], metavar='TXT',
                        help='report patients that also appear in these split files')
    parser.add_argument('--fail-on-shared-patients', action='store_true',
                        help='stop with an error when --other-splits share a patient')
    parser.add_argument('--patient-regex', default=DEFAULT_PATIENT_REGEX,
                        help='group 1 is the patient id of a file name')
    add_data_source_args(parser)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if args.per_class is not None and args.per_class <= 0:
        sys.exit(f'error: --per-class {args.per_class}: expected a positive number')
    try:
        if args.other_splits:
            files = [args.label_file] + args.other_splits
            shared, unparsed = find_shared_patients(files, args.patient_regex, args.skip_bad)
            print(format_leakage(files, shared, unparsed))
            if shared and args.fail_on_shared_patients:
                sys.exit(f'error: {len(shared)} patients appear in more than one split; '
                         'expected splits by patient')
        source = data_source_from_args(
            args, f'COVIDx-CT format slices in {osp.abspath(args.img_dir)}')
        annotation, summary = convert_covidx(args.label_file, args.img_dir, args.relative_to,
                                             args.per_class, args.seed, args.crop_body,
                                             args.skip_bad, args.patient_regex)
    except (COVIDxFormatError, ValueError) as exc:
        sys.exit(f'error: {exc}')
    annotation['metainfo']['data_source'] = source
    atomic_write_json(annotation, args.out, indent=1)
    print(format_summary(summary, args.out))
    return summary


if __name__ == '__main__':
    main()
