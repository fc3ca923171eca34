"""Synthetic chest-CT phantom written in the raw CNCB-nCoV and COVIDx-CT formats.

Every slice is built in Hounsfield units (HU) - air, subcutaneous fat, chest-wall
muscle, ribs, sternum, spine, mediastinum with heart and aorta, two lungs with vessels
and airways, a table under the patient, correlated noise - then shown in a lung window
(level -600, width 1500) and stored as an 8-bit grey PNG, like the published slices.

Lesions follow the radiology of each class so that the task is learnable and not
trivial:

* COVID-19: multifocal (2-6), mostly bilateral, peripheral (subpleural, posterior and
  lateral) rounded ground-glass opacities (GGO), some with a consolidation core, some
  with crazy paving;
* common pneumonia (CP): mostly unilateral lobar or segmental consolidation (a wedge
  based on the pleura) with air bronchograms, sometimes with a GGO halo;
* normal: no lesions;
* a share (``--hard-frac``) of COVID-19 and CP slices are hard: fewer, smaller or
  fainter lesions.

The mask of every slice is exact: 0 background, 1 lung field, 2 GGO, 3 consolidation
(a consolidation core inside a GGO patch is 3). The layout written under ``--out``, the
file names and the seeding are those of :mod:`mmdet_covid.datasets.phantom.phantom_generator`,
the library this command line runs.

Example::

    python tools/make_phantom_data.py --out data/phantom --seg 300 --cls 1500 --seed 0
"""
import argparse
import os
import sys
import time
from typing import Optional, Sequence

from mmdet_covid.datasets.phantom import HARD_FRAC, generate


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write a synthetic chest-CT phantom in the raw CNCB-nCoV (lesion '
                    'masks) and COVIDx-CT (slice labels) formats.')
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument('--seg', type=int, default=300, help='slices of the lesion set')
    parser.add_argument('--cls', type=int, default=900,
                        help='slices of the classification set (all splits)')
    parser.add_argument('--size', type=int, default=512, help='image side in pixels')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--hard-frac', type=float, default=HARD_FRAC,
                        help='share of COVID-19 and CP slices with hard lesions')
    parser.add_argument('--frames-per-scan', type=int, default=5)
    parser.add_argument('--seg-test-frac', type=float, default=0.15,
                        help='share of lesion-set scans in its test split')
    parser.add_argument('--cls-fractions', type=float, nargs=3, default=(0.6, 0.2, 0.2),
                        metavar=('TRAIN', 'VAL', 'TEST'))
    parser.add_argument('--slices-per-patient', type=int, default=2,
                        help='classification slices per patient (each patient has '
                             'its own body)')
    parser.add_argument('--workers', type=int, default=min(2, os.cpu_count() or 1),
                        help='processes (the bytes written do not depend on it)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace a phantom previously written to --out')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    start = time.perf_counter()
    summary = generate(args.out, args.seg, args.cls, args.size, args.seed, args.hard_frac,
                       args.workers, args.frames_per_scan, args.seg_test_frac,
                       args.cls_fractions, args.slices_per_patient, args.overwrite)
    seconds = time.perf_counter() - start
    slices = summary['slices']
    hard = sum(r['hard'] for r in slices)
    print(f'phantom: {len(slices)} slices of {args.size}x{args.size} ({args.seg} lesion-set, '
          f'{args.cls} classification, {hard} hard) written to {args.out} in {seconds:.1f} s '
          f'with {args.workers} worker(s)')


if __name__ == '__main__':
    sys.exit(main())
