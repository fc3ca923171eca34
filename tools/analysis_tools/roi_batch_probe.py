"""What the classifier S reads: does the RoI batch carry the slice class?

    python tools/analysis_tools/roi_batch_probe.py CONFIG CHECKPOINT \
        [--max-train 900] [--offline-s 200,900,1800] [--out probe.json]

Runs the trained SSM over the classification training split and test split
(the config's ``train_dataloader`` / ``test_dataloader`` datasets, test
pipeline), records the ``B x 5`` RoI batch that S reads on every slice, and
reports, per class:

* the image branch's lesion scores: the top score, the mean of the top 10 and
  the number of rows scoring >= 0.5 (after the RoI batch's NMS);
* S's accuracy on the test split;
* a linear probe (multinomial logistic regression, fit on the training
  split's RoI batches, scored on the test split): how much of the class a
  linear read-out of the same input recovers, and of its score column
  alone. A probe far above S means S under-uses its input; a probe at
  chance means the input carries no class.

With ``--offline-s STEPS``, S itself (a fresh :class:`ImageClassifierS` of the
config, its loss, Adam at ``--s-lr``) is trained offline on the recorded
training RoI batches, which then stay fixed, for each way of writing a row
(raw box-regression values as the reference code, decoded boxes, each with and
without score weighting) and each way of batching (batch 1 as the paper, the
new sample plus 15 of the last 256 as ``cls_replay``), over ``--seeds`` seeds;
its weighted F1 on the test split after each number of steps tells what S can
learn from each input when its input does not move under it.

All numbers are printed as one table and, with ``--out``, written as JSON.
"""
import argparse
from typing import Dict, List, Tuple

import numpy as np
import torch
from mmengine.config import DictAction

from mmdet_covid.evaluation.metrics.cls_metric import weighted_f1


# The 4 values of a row (RoIBatchSelection.row_content); each is recorded
# as is and score-weighted (the values times the row's score, exactly what
# score_weighted=True gives).
ROW_CONTENTS = ('deltas', 'boxes')
ROW_VARIANTS = [*ROW_CONTENTS, *(f'{c} x score' for c in ROW_CONTENTS)]


def _variants_hook(captured: Dict[str, List[torch.Tensor]]):
    """A forward hook on RoIBatchSelection that also records the RoI batch
    in every row variant (same proposals, same scores)."""

    def hook(module, args, output):
        saved = module.row_content, module.score_weighted
        try:
            module.score_weighted = False
            for content in ROW_CONTENTS:
                module.row_content = content
                rows = module.forward(*args).detach().cpu()
                weighted = torch.cat([rows[..., :1], rows[..., 1:] * rows[..., :1]], -1)
                captured.setdefault(content, []).append(rows)
                captured.setdefault(f'{content} x score', []).append(weighted)
        finally:
            module.row_content, module.score_weighted = saved

    return hook


def collect(model, dataset, limit: int = None,
            variants: Dict[str, List[torch.Tensor]] = None
            ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RoI batches ``(N, B, 5)``, labels ``(N, )`` and S's predictions ``(N, )``;
    with ``variants`` (a dict), also every row variant, appended to it.

    ``limit`` slices are taken evenly spaced over the dataset (annotation
    files are often sorted by class: the first ones would be one class).
    """
    from mmdet_covid.apis import batch_predictions

    captured: List[torch.Tensor] = []
    handles = [model.classifier.register_forward_hook(
        lambda module, args, output: captured.append(args[0].detach().cpu()))]
    if variants is not None:
        handles.append(model.roi_head.roi_batch_selection.register_forward_hook(
            _variants_hook(variants)))
    labels, preds = [], []
    n = len(dataset) if limit is None else min(limit, len(dataset))
    indices = np.linspace(0, len(dataset) - 1, n).round().astype(int).tolist()
    try:
        for _, sample in batch_predictions(model, indices, 8, dataset.__getitem__):
            labels.append(int(sample.gt_label))
            preds.append(int(sample.pred_label))
    finally:
        for handle in handles:
            handle.remove()
    return torch.cat(captured).numpy(), np.array(labels), np.array(preds)


def train_s_offline(s_cfg: dict, x_train: np.ndarray, y_train: np.ndarray,
                    x_test: np.ndarray, y_test: np.ndarray, steps: List[int], lr: float,
                    replay: Tuple[int, int], seed: int) -> Dict[int, float]:
    """Train a fresh S on fixed RoI batches; test weighted F1 after each of ``steps``.

    One new training sample per step (an epoch-wise shuffle, as the
    sampler); ``replay = (size, batch)`` adds ``batch - 1`` samples drawn
    from the last ``size`` seen, ``(1, 1)`` is batch size 1.
    """
    from mmdet.registry import MODELS
    from mmdet_covid.models.utils import RoIBatchReplay

    torch.manual_seed(seed)
    s = MODELS.build(s_cfg)
    s.init_weights()
    optim = torch.optim.Adam(s.parameters(), lr=lr, weight_decay=1e-3)
    memory = RoIBatchReplay(*replay)
    xtr, ytr = torch.from_numpy(x_train).float(), torch.from_numpy(y_train).long()
    xte = torch.from_numpy(x_test).float()
    order = torch.cat([torch.randperm(len(ytr)) for _ in range(max(steps) // len(ytr) + 1)])
    f1 = {}
    for step in range(1, max(steps) + 1):
        i = order[step - 1:step]
        memory.push(xtr[i], ytr[i])
        loss = s.loss(*memory.minibatch(xtr[i], ytr[i]))['loss']
        optim.zero_grad()
        loss.backward()
        optim.step()
        if step in steps:
            with torch.no_grad():
                f1[step] = weighted_f1(y_test, s(xte).argmax(1).numpy(), s.num_classes)
    return f1


def score_stats(batches: np.ndarray, labels: np.ndarray, classes) -> Dict[str, dict]:
    """Per class: top score, mean of the top 10 scores, rows scoring >= 0.5."""
    scores = batches[..., 0]  # rows are in descending score order
    stats = {}
    for k, name in enumerate(classes):
        s = scores[labels == k]
        if not len(s):
            continue
        stats[name] = dict(n=int(len(s)), top1=float(s[:, 0].mean()),
                           top10=float(s[:, :10].mean()),
                           rows_ge_05=float((s >= 0.5).sum(1).mean()))
    return stats


def linear_probe(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                 num_classes: int, epochs: int = 300, weight_decay: float = 1e-3) -> np.ndarray:
    """Multinomial logistic regression (full-batch Adam on standardised
    features); returns the predicted test labels."""
    torch.manual_seed(0)
    xtr = torch.from_numpy(x_train.reshape(len(x_train), -1)).float()
    xte = torch.from_numpy(x_test.reshape(len(x_test), -1)).float()
    mean, std = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mean) / std, (xte - mean) / std
    ytr = torch.from_numpy(y_train).long()
    layer = torch.nn.Linear(xtr.size(1), num_classes)
    optim = torch.optim.Adam(layer.parameters(), lr=1e-2, weight_decay=weight_decay)
    for _ in range(epochs):
        optim.zero_grad()
        torch.nn.functional.cross_entropy(layer(xtr), ytr).backward()
        optim.step()
    with torch.no_grad():
        return layer(xte).argmax(1).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--max-train', type=int, default=None,
                        help='training slices for the probe, evenly spaced over the '
                             'split (default: all)')
    parser.add_argument('--copy-seg-branch', action='store_true',
                        help='copy the segmentation RoI branch into the image branch '
                             'first (e.g. for a segmentation-only checkpoint, whose image '
                             'branch is still its initial copy)')
    parser.add_argument('--offline-s', metavar='STEPS',
                        help='train S offline on fixed RoI batches of every row variant, '
                             'test after these comma-separated numbers of steps')
    parser.add_argument('--s-lr', type=float, default=2e-4, help='Adam lr of offline S')
    parser.add_argument('--seeds', type=int, default=2, help='seeds of offline S')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out', help='write the results as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys, e.g. cls_data_root=/data/covidx/')
    args = parser.parse_args()

    from mmdet.registry import DATASETS
    from mmengine.config import Config

    from mmdet_covid.apis import init_ssm
    from mmdet_covid.engine.runner import apply_dataset_settings

    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    apply_dataset_settings(cfg)
    model = init_ssm(cfg, args.checkpoint, device=args.device)
    if args.copy_seg_branch:
        model.roi_head.copy_seg_weights()
    classes = model.classifier.classes
    test_pipeline = cfg.test_dataloader.dataset.pipeline
    train_set = DATASETS.build(dict(cfg.train_dataloader.dataset, pipeline=test_pipeline))
    test_set = DATASETS.build(cfg.test_dataloader.dataset)
    study = args.offline_s is not None
    train_rows, test_rows = ({}, {}) if study else (None, None)
    x_train, y_train, _ = collect(model, train_set, args.max_train, train_rows)
    x_test, y_test, s_pred = collect(model, test_set, variants=test_rows)
    probe_pred = linear_probe(x_train, y_train, x_test, len(classes))
    score_probe_pred = linear_probe(x_train[..., :1], y_train, x_test[..., :1], len(classes))

    result = dict(
        checkpoint=args.checkpoint,
        scores_by_class=score_stats(x_test, y_test, classes),
        s_accuracy=float((s_pred == y_test).mean()),
        s_f1_weighted=weighted_f1(y_test, s_pred, len(classes)),
        probe_accuracy=float((probe_pred == y_test).mean()),
        probe_f1_weighted=weighted_f1(y_test, probe_pred, len(classes)),
        score_probe_accuracy=float((score_probe_pred == y_test).mean()),
        score_probe_f1_weighted=weighted_f1(y_test, score_probe_pred, len(classes)),
        s_predicted_classes=np.bincount(s_pred, minlength=len(classes)).tolist())
    print(f'RoI batch that S reads, {len(y_test)} test slices '
          f'({len(y_train)} training slices for the probe)')
    print(f'{"class":<10} {"top score":>10} {"top-10 mean":>12} {"rows >= 0.5":>12}')
    for name, st in result['scores_by_class'].items():
        print(f'{name:<10} {st["top1"]:>10.3f} {st["top10"]:>12.3f} {st["rows_ge_05"]:>12.1f}')
    print(f'S: accuracy {100 * result["s_accuracy"]:.1f}%, weighted F1 '
          f'{result["s_f1_weighted"]:.3f}, predicted classes {result["s_predicted_classes"]}')
    print(f'linear probe on the same input: accuracy {100 * result["probe_accuracy"]:.1f}%, '
          f'weighted F1 {result["probe_f1_weighted"]:.3f}')
    print(f'linear probe on the {x_test.shape[1]} scores alone: accuracy '
          f'{100 * result["score_probe_accuracy"]:.1f}%, weighted F1 '
          f'{result["score_probe_f1_weighted"]:.3f}')
    if study:
        steps = sorted(int(v) for v in args.offline_s.split(','))
        s_cfg = dict(cfg.model.classifier, in_features=x_train[0].size)
        batching = {'batch 1': (1, 1), 'replay 16 of 256': (256, 16)}
        rows = []
        print(f'S trained offline on fixed RoI batches (Adam {args.s_lr}, '
              f'{args.seeds} seeds): test weighted F1 after ' + ', '.join(map(str, steps))
              + ' steps (min-max over seeds)')
        for name in ROW_VARIANTS:
            xtr, xte = torch.cat(train_rows[name]).numpy(), torch.cat(test_rows[name]).numpy()
            for how, replay in batching.items():
                runs = [train_s_offline(s_cfg, xtr, y_train, xte, y_test, steps, args.s_lr,
                                        replay, seed) for seed in range(args.seeds)]
                row = dict(rows=name, batching=how, f1_weighted={
                    step: [round(run[step], 3) for run in runs] for step in steps})
                rows.append(row)
                print(f'{name:<16} {how:<18} ' + '  '.join(
                    f'{min(v):.3f}-{max(v):.3f}' for v in row['f1_weighted'].values()))
        result['offline_s'] = dict(lr=args.s_lr, seeds=args.seeds, steps=steps, runs=rows)
    if args.out:
        from mmdet_covid.io.atomic_write import atomic_write_json
        from mmdet_covid.utils.strict_json import strict_json
        atomic_write_json(strict_json(result), args.out, indent=1)


if __name__ == '__main__':
    main()
