"""What the classifier S reads: does the RoI batch carry the slice class?

    python tools/analysis_tools/roi_batch_probe.py CONFIG CHECKPOINT \
        [--train-split annotations/covidx_train.json] [--max-train 900] [--out probe.json]

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

All numbers are printed as one table and, with ``--out``, written as JSON.
"""
import argparse
import json
from typing import Dict, List, Tuple

import numpy as np
import torch


def collect(model, dataset, limit: int = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RoI batches ``(N, B, 5)``, labels ``(N, )`` and S's predictions ``(N, )``."""
    from mmengine.dataset import pseudo_collate

    captured: List[torch.Tensor] = []
    handle = model.classifier.register_forward_hook(
        lambda module, args, output: captured.append(args[0].detach().cpu()))
    labels, preds = [], []
    n = len(dataset) if limit is None else min(limit, len(dataset))
    try:
        with torch.no_grad():
            for start in range(0, n, 8):
                batch = pseudo_collate([dataset[i] for i in range(start, min(start + 8, n))])
                for sample in model.test_step(batch):
                    labels.append(int(sample.gt_label))
                    preds.append(int(sample.pred_label))
    finally:
        handle.remove()
    return torch.cat(captured).numpy(), np.array(labels), np.array(preds)


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


def weighted_f1(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> float:
    from mmdet_covid.evaluation.metrics.cls_metric import ClsSensitivityF1
    one_hot = np.eye(num_classes)[preds]  # the metric takes scores; argmax = preds
    return float(ClsSensitivityF1.calculate(one_hot, labels, num_classes)['f1_weighted'])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--max-train', type=int, default=None,
                        help='training slices for the probe (default: all)')
    parser.add_argument('--copy-seg-branch', action='store_true',
                        help='copy the segmentation RoI branch into the image branch '
                             'first (e.g. for a segmentation-only checkpoint, whose image '
                             'branch is still its initial copy)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out', help='write the results as JSON')
    args = parser.parse_args()

    from mmdet.apis import init_detector
    from mmdet.registry import DATASETS
    from mmengine.config import Config

    cfg = Config.fromfile(args.config)
    model = init_detector(cfg, args.checkpoint, device=args.device)
    if args.copy_seg_branch:
        model.roi_head.copy_seg_weights()
    classes = model.classifier.classes
    test_pipeline = cfg.test_dataloader.dataset.pipeline
    train_set = DATASETS.build(dict(cfg.train_dataloader.dataset, pipeline=test_pipeline))
    test_set = DATASETS.build(cfg.test_dataloader.dataset)
    x_train, y_train, _ = collect(model, train_set, args.max_train)
    x_test, y_test, s_pred = collect(model, test_set)
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
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
