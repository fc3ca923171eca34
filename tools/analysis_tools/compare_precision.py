"""How much mixed precision changes a trained SSM's outputs, slice by slice.

    python tools/analysis_tools/compare_precision.py CONFIG CHECKPOINT INPUT [INPUT ...]
        [--device cuda] [--batch-size 16] [--out compare.json]

Runs the model on every slice of the inputs (files or folders, as
``tools/infer.py``) twice: in float32, and in reduced precision: on CUDA under
float16 autocast (as ``tools/benchmark.py --amp`` and ``tools/train.py --amp``),
on a CPU with bfloat16 arithmetic in the backbone, neck, box and mask heads
(``model.cpu_bf16='inference'``; mmcv's CPU nms reads float32 scores only, so
not a global autocast). Prints and writes how the second differs from
the first: slice class agreement, the largest change of a class probability,
and for the lesions kept by the config's score threshold, how many are found
by both (the same box up to IoU 0.9) and the IoU of their masks.
"""
import argparse
import sys

BOX_IOU = 0.9  # a lesion of the reference run counts as found if a box overlaps it this much


def compare_predictions(reference: list, other: list) -> dict:
    """Differences of ``other`` from ``reference``: two lists of
    :class:`DetDataSample` of the same slices, in the same order.

    Lesions are matched greedily by box IoU (>= ``BOX_IOU``), highest
    reference score first, each ``other`` lesion used once.

    Returns:
        dict: ``slices``, ``class_agreement`` (fraction), ``max_abs_prob_diff``,
        ``lesions_reference``, ``lesions_other``, ``lesions_matched``,
        ``mean_mask_iou`` (over matched lesions; None if none) and
        ``max_abs_score_diff`` (matched lesions).
    """
    import torch
    from mmdet.structures.bbox import bbox_overlaps

    if len(reference) != len(other):
        raise ValueError(f'compare_predictions: {len(reference)} reference samples '
                         f'but {len(other)} others')
    agree, prob_diff, score_diff = 0, 0.0, 0.0
    n_ref = n_other = matched = 0
    mask_ious = []
    for ref, oth in zip(reference, other):
        agree += int(ref.pred_label.item() == oth.pred_label.item())
        prob_diff = max(prob_diff, (ref.pred_score.float() - oth.pred_score.float())
                        .abs().max().item())
        a, b = ref.pred_instances, oth.pred_instances
        n_ref, n_other = n_ref + len(a), n_other + len(b)
        if len(a) == 0 or len(b) == 0:
            continue
        ious = bbox_overlaps(a.bboxes.float(), b.bboxes.float())
        free = torch.ones(len(b), dtype=torch.bool)
        for i in a.scores.argsort(descending=True).tolist():
            cand = torch.where(free & (ious[i] >= BOX_IOU), ious[i], ious.new_tensor(-1.0))
            j = int(cand.argmax())
            if cand[j] < 0:
                continue
            free[j] = False
            matched += 1
            ma, mb = a.masks[i].bool(), b.masks[j].bool()
            union = (ma | mb).sum().item()
            mask_ious.append((ma & mb).sum().item() / union if union else 1.0)
            score_diff = max(score_diff, abs(float(a.scores[i]) - float(b.scores[j])))
    return dict(slices=len(reference), class_agreement=agree / max(len(reference), 1),
                max_abs_prob_diff=prob_diff, lesions_reference=n_ref, lesions_other=n_other,
                lesions_matched=matched, max_abs_score_diff=score_diff,
                mean_mask_iou=sum(mask_ious) / len(mask_ious) if mask_ious else None)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('inputs', nargs='+', help='slices, volumes or folders of them')
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--out', help='also write the comparison as JSON here')
    args = parser.parse_args(argv)
    cuda = args.device == 'cuda'

    import torch

    import mmdet_covid  # noqa: F401
    from mmdet_covid.apis import inference_ct_slices, init_ssm
    from mmdet_covid.utils import reuse_freed_memory
    from mmdet_covid.utils.benchmark import autocast

    reuse_freed_memory()
    model = init_ssm(args.config, args.checkpoint, device=args.device)
    model.cpu_bf16 = 'off'
    runs = {}
    for reduced in (False, True):
        if reduced and not cuda:
            model.cpu_bf16 = 'inference'
            if model.cpu_bf16 == 'off':
                sys.exit('this CPU has no native bfloat16 arithmetic: nothing to compare')
        with autocast(reduced and cuda):
            runs[reduced] = [s.cpu() for s in inference_ct_slices(model, args.inputs,
                                                                  args.batch_size)]
    result = compare_predictions(runs[False], runs[True])
    result.update(config=args.config, checkpoint=args.checkpoint, device=args.device,
                  gpu=torch.cuda.get_device_name(0) if cuda else None,
                  score_thr=float(model.cfg.model.test_cfg.rcnn.score_thr),
                  box_iou_for_a_match=BOX_IOU,
                  precision='float16 autocast vs float32' if cuda else
                  'bfloat16 arithmetic (cpu_bf16) vs float32')
    for key, value in result.items():
        print(f'{key:<22} {value}')
    if args.out:
        from mmdet_covid.io.atomic_write import atomic_write_json
        atomic_write_json(result, args.out, indent=1)


if __name__ == '__main__':
    main()
