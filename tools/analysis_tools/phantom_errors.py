"""Which phantom slices a slice classifier gets wrong, by class and difficulty.

    python tools/analysis_tools/phantom_errors.py CONFIG CHECKPOINT [--split test]
        [--device cpu] [--out errors.json] [--cfg-options KEY=VALUE ...]

Runs the model (the SSM, or the plain ``SliceClassifier`` of the baselines) on the
classification split of the config (``test_dataloader`` or ``val_dataloader``) of
a phantom written by ``tools/make_phantom_data.py``, and joins each prediction
with the generator's manifest (``phantom.json`` in the data root: the slice's
class, whether its lesions were drawn *hard* (fewer, smaller or fainter), their
pixel count). Prints, per class and difficulty, how many slices the model gets
right and what it calls the others, and the *ceiling of a hard-blind
classifier*: the accuracy and weighted F1 of a model that gets every other slice
right and calls every hard slice Normal. A model at that ceiling sees the
lesions of the ordinary slices and none of the hard ones.
"""
import argparse
import json
import os.path as osp
from collections import Counter
from typing import Dict, List, Sequence

import numpy as np
from mmengine.config import DictAction


def summarise(records: Sequence[dict], classes: Sequence[str]) -> Dict:
    """The table of :func:`main` from ``records`` of ``{label, pred, hard}``.

    Returns:
        dict: ``groups`` (one row per class and difficulty present: slices,
        right, and the predicted classes of the others), ``accuracy`` and
        ``f1_weighted`` of the model, and the same of the hard-blind ceiling.
    """
    from mmdet_covid.evaluation.metrics.cls_metric import weighted_f1

    labels = np.array([r['label'] for r in records])
    preds = np.array([r['pred'] for r in records])
    hard = np.array([bool(r['hard']) for r in records])
    groups = []
    for c, name in enumerate(classes):
        for is_hard in (False, True):
            sel = (labels == c) & (hard == is_hard)
            if not sel.any():
                continue
            wrong = Counter(classes[p] for p in preds[sel] if p != c)
            groups.append(dict(cls=name, hard=is_hard, slices=int(sel.sum()),
                               right=int((preds[sel] == c).sum()), called=dict(wrong)))
    blind = np.where(hard, 0, labels)  # hard slices called Normal (class 0), the rest right
    n = len(classes)
    return dict(groups=groups, slices=len(records), hard_slices=int(hard.sum()),
                accuracy=float((preds == labels).mean()),
                f1_weighted=weighted_f1(labels, preds, n),
                hard_blind_ceiling=dict(accuracy=float((blind == labels).mean()),
                                        f1_weighted=weighted_f1(labels, blind, n)))


def _manifest(data_root: str) -> Dict[str, dict]:
    path = osp.join(data_root, 'phantom.json')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no phantom manifest (this tool reads the '
                                f'phantoms of tools/make_phantom_data.py)')
    with open(path) as f:
        return {s['file']: s for s in json.load(f)['slices']}


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--split', default='test', choices=['test', 'val'])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out', help='also write the table as JSON here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys, e.g. cls_data_root=data/phantom/')
    args = parser.parse_args(argv)

    from mmdet.registry import DATASETS
    from mmengine.config import Config

    from mmdet_covid.apis import batch_predictions, init_ssm
    from mmdet_covid.engine.runner import apply_dataset_settings

    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    apply_dataset_settings(cfg, check_roots=False)  # only this split is read
    dataset_cfg = cfg[f'{args.split}_dataloader'].dataset
    data_root = dataset_cfg.data_root
    manifest = _manifest(data_root)
    model = init_ssm(cfg, args.checkpoint, device=args.device)  # also the default scope
    dataset = DATASETS.build(dataset_cfg)
    classes = list(dataset.metainfo['classes'])
    records: List[dict] = []
    for _, sample in batch_predictions(model, range(len(dataset)), 8, dataset.__getitem__):
        key = osp.relpath(sample.img_path, data_root)
        if key not in manifest:
            raise KeyError(f'{sample.img_path}: not in {data_root}phantom.json '
                           f'(a phantom of another run?)')
        meta = manifest[key]
        records.append(dict(file=key, label=int(sample.gt_label), hard=meta['hard'],
                            lesion_px=meta['lesion_px'], pred=int(sample.pred_label)))
    result = summarise(records, classes)
    print(f'{args.checkpoint}: {result["slices"]} {args.split} slices of {data_root}, '
          f'{result["hard_slices"]} hard')
    print(f'{"class":<10} {"lesions":<8} {"slices":>6} {"right":>6}  others called')
    for g in result['groups']:
        print(f'{g["cls"]:<10} {"hard" if g["hard"] else "ordinary":<8} {g["slices"]:6d} '
              f'{g["right"]:6d}  {g["called"] or "-"}')
    ceiling = result['hard_blind_ceiling']
    print(f'model: accuracy {result["accuracy"]:.3f}, weighted F1 {result["f1_weighted"]:.3f}'
          f'; hard-blind ceiling: accuracy {ceiling["accuracy"]:.3f}, weighted F1 '
          f'{ceiling["f1_weighted"]:.3f}')
    if args.out:
        from mmdet_covid.io.atomic_write import atomic_write_json
        atomic_write_json(dict(result, config=args.config, checkpoint=args.checkpoint,
                               split=args.split, slices_wrong=[
                                   r for r in records if r['pred'] != r['label']]),
                          args.out, indent=1)
    return result


if __name__ == '__main__':
    main()
