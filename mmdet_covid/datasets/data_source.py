"""Where a dataset's slices come from: a name, real or synthetic, the field of view.

The converters write it into the annotation files they make (``data_source`` in a COCO
file's ``info`` or in a classification file's ``metainfo``), from their
``--source-name``, ``--synthetic`` and ``--fov-mm`` options; the training run records it
in each checkpoint (:class:`~mmdet_covid.engine.hooks.TrainingDataHook`), so that every
output of the model can say what it was trained on.

``fov_mm`` is the width of the slices in mm (the phantom's 360 mm). With the width in
pixels that the model's pipeline resizes slices to, it gives the millimetres per model
pixel, which the scan analysis resamples real scans to.
"""
import argparse
import json
import os.path as osp
from typing import Optional

SOURCE_KEY = 'data_source'


def add_data_source_args(parser: argparse.ArgumentParser) -> None:
    """The converters' options that describe the data (module docstring)."""
    group = parser.add_argument_group('what the data is (recorded in the file and in '
                                      'every checkpoint trained on it)')
    group.add_argument('--source-name', help='name of the dataset (default: the format and '
                                             'the input folder)')
    group.add_argument('--synthetic', action='store_true',
                       help='the slices are synthetic (a phantom), not real CT')
    group.add_argument('--fov-mm', type=float,
                       help='width of the slices in mm, where known (all slices alike)')


def data_source_from_args(args: argparse.Namespace, default_name: str) -> dict:
    """The ``data_source`` record of :func:`add_data_source_args`' options."""
    if args.fov_mm is not None and not args.fov_mm > 0:
        raise ValueError(f'--fov-mm {args.fov_mm}: expected a positive width in mm')
    return dict(name=args.source_name or default_name, synthetic=bool(args.synthetic),
                fov_mm=args.fov_mm)


def read_data_source(ann_file: str) -> Optional[dict]:
    """The ``data_source`` of an annotation file (COCO ``info`` or ``metainfo``), or None
    when the file has none (written before it was recorded, or by another tool)."""
    if not osp.isfile(ann_file):
        return None
    with open(ann_file, encoding='utf-8') as f:
        content = json.load(f)
    for section in ('info', 'metainfo'):
        value = (content.get(section) or {}).get(SOURCE_KEY) if isinstance(
            content, dict) else None
        if isinstance(value, dict):
            if value.get('synthetic') not in (True, False, None):
                raise ValueError(f'{ann_file}: {section}.{SOURCE_KEY}.synthetic is '
                                 f'{value["synthetic"]!r}; expected true, false or null')
            return value
    return None
