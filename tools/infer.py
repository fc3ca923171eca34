"""Segment lesions and classify CT slices with a trained SSM.

    python tools/infer.py CONFIG CHECKPOINT INPUT [INPUT ...] [--out-dir DIR]
        [--out results.jsonl|results.csv] [--strict]

INPUT: PNG/JPEG (8- or 16-bit), DICOM files, NIfTI volumes (every axial slice)
or folders of them (searched recursively). Prints one line per slice (class
probabilities, number of lesions, lesion area), named by its path relative to
the folder argument it came from (``:z`` = slice index of a volume).

Every readable slice is processed: an unreadable file or slice is reported
(file and reason) where it occurs and counted at the end, and the run goes
on. With ``--out``, each result row is written (and flushed) as it comes, so
that a crash late in a long scan keeps what was done; unreadable inputs are
rows with an ``error``. With ``--out-dir``, an overlay per slice: lesion masks
and boxes, the predicted class and its probabilities, at the input's relative
path (``folder/sub/file.png``; ``volume_z0007.png`` for a volume's slice 7).

Inputs that look wrong are read with a warning printed under their row and
written to the row's ``warnings``: a 16-bit PNG whose values less the offset
(``--hu-offset``, default 32768 as in DeepLesion) do not look like HU, NaN or
infinite voxels (shown as air). A DICOM whose Modality is not CT is refused
(unreadable) unless ``--force``.

Exit status: 0 when at least one slice was read (and, with ``--strict``,
none failed), 1 otherwise, 2 for a bad argument (checked before the model is
loaded: batch size, files, where --out and --out-dir can be written).

The model's training data is printed first: where a task was trained on the
phantom (or nothing is recorded), its outputs are NOT VALIDATED on real CT, and
every --out row says so (``validated_on_real_ct``).
"""
import argparse
import csv
import json
import os
import os.path as osp
import sys
import warnings
from typing import Dict, Optional, TextIO

from mmdet.registry import VISUALIZERS

from mmdet_covid.apis import inference_ct_slices, init_ssm
from mmdet_covid.utils import reuse_freed_memory
from mmdet_covid.datasets import LoadCTSlice
from mmdet_covid.io.ct_io import CTInputWarning
from mmdet_covid.utils.provenance import training_notices
from mmdet_covid.utils.spreadsheet import spreadsheet_safe


def slice_label(item) -> str:
    """The printed name of a slice: relative path, ``:z`` for a volume."""
    name = item.get('name', item.get('img_path'))
    index = item.get('slice_index')
    return name if index is None else f'{name}:{index}'


def overlay_path(out_dir: str, item, used: set) -> str:
    """A unique overlay file per slice, traceable to its input: the path
    relative to the folder argument it came from (a file argument: its file
    name), ``_z<index>`` for a volume's slice, ``_<n>`` if still taken."""
    stem = item.get('name', item['img_path'])
    if osp.isabs(stem) or stem.startswith('..'):
        stem = osp.basename(stem)
    for ext in ('.nii.gz', '.nii', '.png', '.jpg', '.jpeg', '.dcm'):
        if stem.lower().endswith(ext):
            stem = stem[:-len(ext)]
            break
    if item.get('slice_index') is not None:
        stem += f'_z{int(item["slice_index"]):04d}'
    path, n = stem, 1
    while path in used:
        n += 1
        path = f'{stem}_{n}'
    used.add(path)
    return osp.join(out_dir, path + '.png')


class RowWriter:
    """One result row per slice into a JSON-lines or CSV file, flushed each time."""

    def __init__(self, path: str, classes) -> None:
        ext = osp.splitext(path)[1].lower()
        if ext not in ('.jsonl', '.json', '.csv'):
            raise ValueError(f'--out {path}: expected a .jsonl or .csv file')
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        self.file: TextIO = open(path, 'w', newline='')
        self.csv = None
        if ext == '.csv':
            fields = ['slice', 'img_path', 'slice_index', 'class', *[f'p_{c}' for c in classes],
                      'lesions', 'lesion_area_px', 'validated_on_real_ct', 'warnings', 'error']
            self.csv = csv.DictWriter(self.file, fieldnames=fields)
            self.csv.writeheader()
        self.classes = classes

    def write(self, row: Dict) -> None:
        if self.csv is not None:
            probs = row.get('probabilities') or {}
            flat = dict(row, **{f'p_{c}': probs.get(c) for c in self.classes})
            flat['warnings'] = ' | '.join(row.get('warnings') or ())
            # names and messages come from the input: no spreadsheet formulas
            self.csv.writerow({k: spreadsheet_safe(v) for k, v in flat.items()
                               if k in self.csv.fieldnames})
        else:
            self.file.write(json.dumps(row) + '\n')
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def _creatable(folder: str) -> bool:
    """Whether ``folder`` is, or can be made, a writable folder."""
    folder = osp.abspath(folder)
    while not osp.exists(folder):
        folder = osp.dirname(folder)
    return osp.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)


def check_args(args: argparse.Namespace) -> None:
    """Refuse what no run can use, before the model is loaded (ValueError naming the
    option)."""
    if args.batch_size < 1:
        raise ValueError(f'--batch-size {args.batch_size}: expected at least 1')
    for option in ('config', 'checkpoint'):
        if not osp.isfile(getattr(args, option)):
            raise ValueError(f'{option} {getattr(args, option)}: no such file')
    if args.out:
        if osp.splitext(args.out)[1].lower() not in ('.jsonl', '.json', '.csv'):
            raise ValueError(f'--out {args.out}: expected a .jsonl or .csv file')
        if osp.isdir(args.out) or not _creatable(osp.dirname(osp.abspath(args.out))):
            raise ValueError(f'--out {args.out}: cannot write a file there')
    if args.out_dir and (osp.isfile(args.out_dir) or not _creatable(args.out_dir)):
        raise ValueError(f'--out-dir {args.out_dir}: not a folder that can be written')


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('inputs', nargs='+')
    parser.add_argument('--out-dir', help='write overlays here')
    parser.add_argument('--out', help='write result rows here (.jsonl or .csv) as they come')
    parser.add_argument('--strict', action='store_true',
                        help='exit non-zero if any input or slice could not be read')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--score-thr', type=float, default=0.5,
                        help='lesions counted and drawn from this score on')
    parser.add_argument('--hu-offset', type=float,
                        help="value stored for 0 HU in 16-bit PNGs (default: the config's, "
                             '32768 as in DeepLesion; 1024 for exports of HU + 1024)')
    parser.add_argument('--force', action='store_true',
                        help='read DICOM files whose Modality is not CT (with a warning)')
    args = parser.parse_args(argv)
    load_options = {}
    if args.hu_offset is not None:
        load_options['hu_offset_16bit'] = args.hu_offset
    if args.force:
        load_options['allow_non_ct'] = True
    # printed under each slice's row instead (and written to --out)
    warnings.simplefilter('ignore', CTInputWarning)

    try:  # every argument checked before the model is loaded
        check_args(args)
    except ValueError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    reuse_freed_memory()  # large tensors not page-faulted in anew per slice
    model = init_ssm(args.config, args.checkpoint, device=args.device)
    notices = training_notices(model.training_data)
    for notice in notices:
        print(f'NOT VALIDATED: {notice}')
    classes = model.classifier.classes
    writer = RowWriter(args.out, classes) if args.out else None
    visualizer = None
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
        visualizer = VISUALIZERS.build(dict(type='SSMVisualizer', name='infer', classes=classes))
        visualizer.dataset_meta = dict(classes=('lesion', ))
    width = 48
    print(f'{"slice":<{width}} {"class":<9} ' + ' '.join(f'{c:>8}' for c in classes)
          + '  lesions  area(px)')
    loader = LoadCTSlice(**load_options)  # any format (caches the last NIfTI volume)
    errors: list = []
    used_names: set = set()
    reported = 0
    done = warned = 0

    def report_errors() -> None:
        nonlocal reported
        for err in errors[reported:]:
            print(f'{slice_label(err):<{width}} UNREADABLE: {err["reason"]}', file=sys.stderr)
            if writer:
                writer.write(dict(slice=slice_label(err), img_path=err['img_path'],
                                  slice_index=err.get('slice_index'), error=err['reason']))
        reported = len(errors)

    try:
        for sample in inference_ct_slices(model, args.inputs, args.batch_size, errors=errors,
                                          load_options=load_options):
            report_errors()
            item = dict(img_path=sample.img_path, name=sample.name,
                        slice_index=sample.get('slice_index'))
            keep = sample.pred_instances.scores >= args.score_thr
            area = int(sample.pred_instances.masks[keep].any(0).sum()) if keep.any() else 0
            probs = sample.pred_score.tolist()
            label = classes[int(sample.pred_label)]
            print(f'{slice_label(item):<{width}} {label:<9} '
                  + ' '.join(f'{p:8.3f}' for p in probs) + f'  {int(keep.sum()):7d}  {area:8d}')
            for message in sample.input_warnings:
                print(f'{"":<{width}} WARNING: {message}', file=sys.stderr)
            warned += bool(sample.input_warnings)
            if writer:
                writer.write(dict(slice=slice_label(item), img_path=sample.img_path,
                                  slice_index=item['slice_index'], **{'class': label},
                                  probabilities=dict(zip(classes, probs)),
                                  lesions=int(keep.sum()), lesion_area_px=area,
                                  validated_on_real_ct=not notices,
                                  warnings=sample.input_warnings))
            if visualizer is not None:
                source = dict(img_path=sample.img_path)
                if item['slice_index'] is not None:
                    source['slice_index'] = item['slice_index']
                image = loader(source)['img'][..., ::-1]  # any format, as the model saw it
                out_file = overlay_path(args.out_dir, item, used_names)
                os.makedirs(osp.dirname(out_file), exist_ok=True)
                visualizer.add_datasample(osp.basename(out_file), image, sample, draw_gt=False,
                                          show=False, pred_score_thr=args.score_thr,
                                          out_file=out_file)
            done += 1
        report_errors()
    finally:
        if writer:
            writer.close()
    where = f' (listed above{" and in " + args.out if args.out else ""})'
    print(f'{done} slice(s) processed, {len(errors)} unreadable'
          + (where if errors else '')
          + (f', {warned} read with a warning' + (where if not errors else '') if warned else ''))
    if done == 0 or (args.strict and errors):
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
