"""Draw the samples of an SSM dataset as the model receives them (after its pipeline).

    python tools/analysis_tools/browse_dataset.py CONFIG --set lesion|cls \
        [--split train|val|test] [--output-dir DIR] [--max-samples N] [--cfg-options ...]

mmdet's ``browse_dataset.py`` draws ``train_dataloader``, which for an SSM config is
the classification set: its slices have a class and no instances, and the stock tool
stops on them. Here ``--set lesion`` draws the lesion set's ground-truth instances (boxes
and masks, labelled ``lesion``) and ``--set cls`` each slice with its class as a caption.
The config's data-root and image-size keys apply (``--cfg-options cls_data_root=...``).
Drawings are written at the slice's path under its image folder (CNCB frames of two
scans never overwrite each other); without ``--output-dir`` they are shown in a window.
"""
import argparse
import os.path as osp
import sys
import uuid
from typing import Optional, Sequence

import mmcv
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

LOADERS = {('lesion', 'train'): 'seg_train_dataloader', ('lesion', 'test'): 'seg_test_dataloader',
           ('cls', 'train'): 'cls_train_dataloader', ('cls', 'val'): 'cls_val_dataloader',
           ('cls', 'test'): 'cls_test_dataloader'}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('--set', choices=('lesion', 'cls'), default='lesion',
                        help='the lesion set (instances) or the classification set')
    parser.add_argument('--split', choices=('train', 'val', 'test'), default='train')
    parser.add_argument('--output-dir', help='write the drawings here instead of showing them')
    parser.add_argument('--max-samples', type=int, help='draw only the first N samples')
    parser.add_argument('--show-interval', type=float, default=2,
                        help='seconds each drawing is shown')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys, e.g. seg_data_root=/data/cncb/')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    key = LOADERS.get((args.set, args.split))
    if key is None:
        sys.exit(f'error: --set {args.set} has no {args.split} split; expected one of '
                 + ', '.join(s for t, s in LOADERS if t == args.set))
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    if key not in cfg:
        sys.exit(f'error: {args.config} has no {key} (the SSM dataset base configs '
                 'define it); expected a config built on configs/_base_/datasets/')
    init_default_scope(cfg.get('default_scope', 'mmdet'))

    from mmdet.models.utils import mask2ndarray
    from mmdet.registry import DATASETS, VISUALIZERS

    from mmdet_covid.engine.runner import apply_dataset_settings

    apply_dataset_settings(cfg, check_roots=False)
    dataset_cfg = cfg[key].dataset
    dataset = DATASETS.build(dataset_cfg)
    classes = dataset.metainfo.get('classes')
    visualizer = VISUALIZERS.build(dict(type='SSMVisualizer', name=f'browse_{uuid.uuid4().hex}',
                                        classes=classes))
    visualizer.dataset_meta = dict(classes=('lesion', ))
    image_dir = next(iter(dataset.data_prefix.values()), '')  # data_root joined in

    count = len(dataset) if args.max_samples is None else min(args.max_samples, len(dataset))
    progress = ProgressBar(count)
    for i in range(count):
        item = dataset[i]
        img = item['inputs'].permute(1, 2, 0).numpy()[..., ::-1]  # BGR -> RGB
        sample = item['data_samples'].numpy()
        name = osp.relpath(sample.img_path, image_dir)
        if name.startswith('..'):
            name = osp.basename(sample.img_path)
        out_file = osp.join(args.output_dir, name) if args.output_dir else None
        if 'gt_instances' in sample:
            instances = sample.gt_instances
            instances.bboxes = instances.bboxes.tensor
            instances.masks = mask2ndarray(instances.masks).astype(bool)
            visualizer.add_datasample(name, img, sample, draw_pred=False,
                                      show=out_file is None, wait_time=args.show_interval,
                                      out_file=out_file)
        else:
            label = int(sample.gt_label[0])
            drawn = visualizer.draw_caption(img, f'{classes[label]} '
                                                 f'({args.split}, label {label})')
            if out_file is None:
                visualizer.show(drawn, win_name=name, wait_time=args.show_interval)
            else:
                mmcv.imwrite(drawn[..., ::-1], out_file)
        progress.update()
    if args.output_dir:
        print(f'\n{count} drawing(s) in {args.output_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
