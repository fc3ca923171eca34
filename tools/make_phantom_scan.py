"""Whole-scan chest-CT phantoms: one patient as a DICOM series and as a NIfTI volume,
with the truth the scan analysis is checked against.

Each scan is one patient's body (the anatomy of ``make_phantom_data.py``) cut at evenly
spaced positions from the lung bases (z = 0) to the upper thorax (z = 1). The lesions of
each slice are drawn by the slice's own random stream from the scan's pattern (COVID-19,
CP, or none); about 15% of the slices of a diseased scan have no lesion. Lesions are not
continuous from one slice to the next: the phantom checks volumes and geometry, not 3-D
shape. What is written under ``--out`` (a DICOM series, a NIfTI volume, the truth mask and
``truth.json`` per scan) is described in :mod:`mmdet_covid.datasets.phantom.scan_phantom`,
the library this command line runs.

Example::

    python tools/make_phantom_scan.py --out data/phantom/scans --scans 3 --slices 40
"""
import argparse
import os.path as osp
import sys
from typing import Optional, Sequence

from mmdet_covid.datasets.phantom import write_scan


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Write whole-scan chest-CT phantoms (DICOM '
                                                 'series + NIfTI + truth).')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--scans', type=int, default=3,
                        help='scans, classes in turn: COVID-19, CP, Normal, ...')
    parser.add_argument('--slices', type=int, default=40, help='slices per scan')
    parser.add_argument('--size', type=int, default=512, help='slice side in pixels')
    parser.add_argument('--slice-mm', type=float, default=5.0, help='slice spacing in mm')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    order = ('COVID-19', 'CP', 'Normal')
    for i in range(args.scans):
        cls = order[i % 3]
        name = f'scan_{i:03d}_{cls.replace("-", "")}'
        truth = write_scan(args.out, name, cls, args.slices, args.size, args.seed, i,
                           slice_mm=args.slice_mm)
        print(f'{osp.join(args.out, name)}: {cls}, {args.slices} slices, lung '
              f'{truth["ml"]["lung"]:.0f} mL, lesions {truth["ml"]["lesion"]:.1f} mL '
              f'({truth["lesion_percent_of_lung"]:.1f}%)')


if __name__ == '__main__':
    sys.exit(main())
