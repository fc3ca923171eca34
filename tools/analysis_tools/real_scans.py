"""The scan analysis on real patients: COVID-CT-MD series with slice labels.

    python tools/analysis_tools/real_scans.py CONFIG CHECKPOINT \\
        [--data ../shared/realdata/covid_ct_md] [--out docs/results/real_scans.json] \\
        [--figure docs/results/real_scans.png] [--batch-size 8]

Reads a COVID-CT-MD folder (one DICOM series per patient folder, the authors' ``Index.csv``
and slice-level label array; the public sample or the full set) and analyses every
labelled or normal patient as ``tools/analyze_scan.py`` does. Writes, per
patient: the true and predicted class, the lung and lesion volumes, the detections
counted in the lung and dropped outside it, the time; and, per patient and over all
analysed slices, how well the best lesion score per slice separates the slices a
radiologist marked infected from the others (ROC AUC), and the sensitivity and
specificity of the report's lesion slices (a counted lesion scoring at least the report's
threshold) for them. ``--figure`` draws four slices per patient with the lung mask
(cyan) and the lesions counted (yellow ground glass, red consolidation).

Three patients are an anecdote, not a measurement of diagnostic accuracy.
"""
import argparse
import os.path as osp
import time
from typing import List

import numpy as np


def draw(analyses: List[tuple], path: str) -> None:
    """Four slices per patient: lung mask outline and counted lesions."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from mmdet_covid.io.ct_io import apply_window

    fig, axes = plt.subplots(len(analyses), 4, figsize=(12, 3.1 * len(analyses)),
                             squeeze=False)
    for row, (subject, analysis) in zip(axes, analyses):
        depth = analysis.volume.hu.shape[0]
        lesion = analysis.lesion_labels.sum(axis=(1, 2))
        picks = [int(depth * 0.25), int(depth * 0.5), int(depth * 0.75)]
        picks.append(int(np.argmax(lesion)) if lesion.any() else int(depth * 0.4))
        for ax, k in zip(row, picks):
            grey = apply_window(analysis.volume.hu[k]).astype(np.float32) / 255.0
            rgb = np.repeat(grey[..., None], 3, axis=2)
            for value, colour in ((1, (1.0, 0.85, 0.0)), (2, (1.0, 0.1, 0.1))):
                sel = analysis.lesion_labels[k] == value
                rgb[sel] = 0.5 * rgb[sel] + 0.5 * np.asarray(colour)
            ax.imshow(rgb)
            ax.contour(analysis.sides[k] > 0, levels=[0.5], colors=['cyan'], linewidths=0.6)
            ax.set_title(f'{subject}, slice {k} of {depth}', fontsize=9)
            ax.axis('off')
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


def slice_rates(lesion_slice, infected) -> dict:
    """Sensitivity and specificity of the report's lesion slices for the infected ones
    (None where a patient has no slice of a kind)."""
    lesion_slice, infected = np.asarray(lesion_slice, bool), np.asarray(infected, bool)
    pos, neg = infected.sum(), (~infected).sum()
    return dict(slice_sensitivity=float((lesion_slice & infected).sum() / pos) if pos else None,
                slice_specificity=float((~lesion_slice & ~infected).sum() / neg) if neg
                else None)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--data', default=osp.join('..', 'shared', 'realdata', 'covid_ct_md'))
    parser.add_argument('--out', help='JSON of the figures')
    parser.add_argument('--figure', help='PNG of four slices per patient')
    parser.add_argument('--batch-size', type=int, default=8)
    args = parser.parse_args(argv)
    from mmdet_covid.apis import analyze_scan, init_ssm
    from mmdet_covid.datasets.covid_ct_md import read_slice_labels
    from mmdet_covid.evaluation.functional import roc_auc

    labels = read_slice_labels(args.data)
    model = init_ssm(args.config, args.checkpoint)
    patients, pooled, analyses = {}, ([], []), []
    for subject, truth in sorted(labels.items()):
        start = time.perf_counter()
        analysis = analyze_scan(model, osp.join(args.data, subject),
                                batch_size=args.batch_size, checkpoint=args.checkpoint)
        seconds = time.perf_counter() - start
        scores, marked = [], []
        for row in analysis.slices:
            if row['analysed'] and row['name'] in truth['infected']:
                scores.append(row['top_lesion_score'])
                marked.append(truth['infected'][row['name']])
        pooled[0].extend(scores)
        pooled[1].extend(marked)
        total, counts, scan = analysis.burden['total'], analysis.counts, analysis.scan or {}
        patients[subject] = dict(
            true_class=truth['class'], predicted_class=scan.get('class'),
            probabilities=scan.get('probabilities'), slices=counts['slices'],
            analysed=counts['analysed'], infected_slices=int(sum(marked)),
            lesion_slices=scan.get('lesion_slices'),
            lung_ml=total['lung_ml'], lesion_ml=total['lesion_ml'],
            lesion_percent=total['lesion_percent'],
            detections_in_lung=counts['detections_in_lung'],
            detections_outside_lung=counts['detections_outside_lung'],
            ml_outside_lung_not_counted=counts['ml_outside_lung_not_counted'],
            slice_auc=roc_auc(scores, marked), seconds=seconds,
            **slice_rates(np.asarray(scores) > 0, marked))
        analyses.append((subject, analysis))
        p = patients[subject]
        print(f'{subject}: {p["true_class"]} -> {p["predicted_class"]}; lung '
              f'{p["lung_ml"]:.0f} mL, lesions {p["lesion_ml"]:.1f} mL '
              f'({p["lesion_percent"] or 0:.2f}%); detections {p["detections_in_lung"]} in '
              f'the lung, {p["detections_outside_lung"]} outside '
              f'({p["ml_outside_lung_not_counted"]:.0f} mL not counted); {seconds:.0f} s')
    auc = roc_auc(*pooled)
    rates = slice_rates(np.asarray(pooled[0]) > 0, pooled[1])
    print(f'infected vs other slices, best lesion score per slice: ROC AUC {auc:.3f} over '
          f'{len(pooled[0])} slices ({int(sum(pooled[1]))} infected); lesion slices: '
          f'sensitivity {rates["slice_sensitivity"]:.3f}, specificity '
          f'{rates["slice_specificity"]:.3f}')
    print(f'{len(patients)} patients are an anecdote, not a measurement of accuracy')
    if args.out:
        from mmdet_covid.io.atomic_write import atomic_write_json
        from mmdet_covid.utils.machine import cpu_model, native_bf16
        from mmdet_covid.utils.strict_json import strict_json
        atomic_write_json(strict_json(dict(
            command='python tools/analysis_tools/real_scans.py ' + ' '.join(
                [args.config, args.checkpoint, '--data', args.data]),
            data=osp.abspath(args.data), checkpoint_training_data=model.training_data,
            cpu=cpu_model(), native_bf16=native_bf16(), patients=patients,
            slice_auc_pooled=auc, slices_pooled=len(pooled[0]),
            **{f'{k}_pooled': v for k, v in rates.items()},
            infected_slices_pooled=int(sum(pooled[1])))), args.out, indent=1)
    if args.figure:
        draw(analyses, args.figure)


if __name__ == '__main__':
    main()
