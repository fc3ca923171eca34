"""Predicted lesions beside the truth on test slices of a lesion set, as one picture.

    python tools/analysis_tools/lesion_pictures.py CONFIG CHECKPOINT --out PNG \\
        [--slices 18 21 36] [--count 6] [--score-thr 0.5] [--cfg-options KEY=VALUE ...]

For each chosen slice of the config's test set (``--slices``: image stems; default the
first ``--count`` in name order) two panels: the slice with the truth (green outline;
the dataset's instance masks), and the slice with the model's masks scoring at least
``--score-thr`` (filled, one colour per class) and its Dice against the truth at that
threshold in the title.
"""
import argparse
import os.path as osp
from typing import Optional, Sequence

import numpy as np

COLOURS = ((1.0, 0.2, 0.2), (1.0, 0.85, 0.0), (0.3, 0.6, 1.0))


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, help='PNG to write')
    parser.add_argument('--slices', nargs='+', help='image stems of the test set')
    parser.add_argument('--count', type=int, default=6, help='slices when --slices is not given')
    parser.add_argument('--score-thr', type=float, default=0.5)
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='e.g. seg_data_root=data/covid_semiseg/')
    args = parser.parse_args(argv)

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from mmdet.apis import inference_detector
    from mmdet.registry import DATASETS
    from mmengine.config import Config
    from PIL import Image
    from pycocotools import mask as mask_utils

    from mmdet_covid.apis import init_ssm
    from mmdet_covid.engine.runner.ssm_runner import apply_dataset_settings
    from mmdet_covid.evaluation.functional import binary_masks

    cfg = Config.fromfile(args.config)
    for option in args.cfg_options:
        key, sep, value = option.partition('=')
        if not sep:
            parser.error(f'--cfg-options {option!r}: expected KEY=VALUE')
        cfg.merge_from_dict({key: value})
    apply_dataset_settings(cfg)
    dataset_cfg = dict(cfg.test_dataloader.dataset)
    dataset_cfg['pipeline'] = []
    dataset = DATASETS.build(dataset_cfg)
    by_stem = {osp.splitext(osp.basename(dataset.get_data_info(i)['img_path']))[0]: i
               for i in range(len(dataset))}
    stems = args.slices or sorted(by_stem, key=lambda s: (len(s), s))[:args.count]
    missing = [s for s in stems if s not in by_stem]
    if missing:
        parser.error(f'--slices {missing[0]!r} is not a slice of the test set '
                     f'({dataset.ann_file}); expected one of {sorted(by_stem)[:5]} ...')
    model = init_ssm(cfg, args.checkpoint)  # refuses weights of another variant
    classes = dataset.metainfo['classes']
    fig, axes = plt.subplots(len(stems), 2, figsize=(7, 3.4 * len(stems)), squeeze=False)
    for row, stem in zip(axes, stems):
        info = dataset.get_data_info(by_stem[stem])
        with Image.open(info['img_path']) as img:
            stored = np.asarray(img.convert('L'))  # the model reads the 8-bit slice as is
        grey = stored.astype(np.float32) / 255.0
        truth = np.zeros(grey.shape, bool)
        for inst in info['instances']:
            seg = inst['mask']
            rle = mask_utils.frPyObjects(seg, *grey.shape) if isinstance(seg, list) else seg
            decoded = mask_utils.decode(rle)
            truth |= (decoded.max(axis=2) if decoded.ndim == 3 else decoded).astype(bool)
        result = inference_detector(model, stored).pred_instances
        keep = (result.scores >= args.score_thr).cpu().numpy()
        masks = result.masks.cpu().numpy()[keep]
        masks = binary_masks(masks)  # probabilities as the model would binarise them
        labels = result.labels.cpu().numpy()[keep]
        pred = masks.any(axis=0) if len(masks) else np.zeros(grey.shape, bool)
        dice = 2 * (pred & truth).sum() / max(pred.sum() + truth.sum(), 1)
        row[0].imshow(grey, cmap='gray', vmin=0, vmax=1)
        row[0].contour(truth, levels=[0.5], colors=['lime'], linewidths=0.8)
        row[0].set_title(f'{stem}: truth', fontsize=9)
        rgb = np.repeat(grey[..., None], 3, axis=2)
        for mask, label in zip(masks, labels):
            rgb[mask] = 0.55 * rgb[mask] + 0.45 * np.asarray(COLOURS[label % len(COLOURS)])
        row[1].imshow(rgb)
        row[1].contour(truth, levels=[0.5], colors=['lime'], linewidths=0.5)
        names = ', '.join(f'{classes[c]} {int((labels == c).sum())}'
                          for c in range(len(classes)) if (labels == c).any()) or 'none'
        row[1].set_title(f'model (score >= {args.score_thr:g}): {names}; Dice {dice:.2f}',
                         fontsize=8)
        for ax in row:
            ax.axis('off')
    fig.tight_layout()
    fig.savefig(args.out, dpi=70)
    print(f'wrote {args.out}: {len(stems)} slices')


if __name__ == '__main__':
    main()
