"""profile_scan: where the time and the memory of one scan's analysis go.

One scan through what ``tools/analyze_scan.py`` does (read, load the model, lung mask,
model, burden, write every output), each stage timed and its peak resident memory
recorded (:class:`~mmdet_covid.utils.stage_meter.StageMeter`), then the model's
forward passes alone on the same slices, in the same batches and on the same canvas:
the ratio of the two says what the analysis costs beyond the model. Run by
``tools/benchmark.py --scan``; the figures and the command in docs/benchmarks.md.
"""
import os.path as osp
import tempfile
import time
from typing import Optional

import numpy as np
import torch

from ..scan.report import write_report
from ..utils.machine import cpu_model, native_bf16
from ..utils.stage_meter import StageMeter
from .inference import init_ssm
from .scan_analysis import analyze_scan, predict_slices, read_scan


def profile_scan(config: str, checkpoint: str, source: str, batch_size: int = 4,
                 fit_margin_mm: Optional[float] = None, device: str = 'cpu') -> dict:
    """Analyse ``source`` as ``tools/analyze_scan.py`` does and time it.

    Returns:
        A JSON-ready dict: the machine, the scan (slices, analysed, canvas), seconds and
        peak memory (MiB) per stage, ``total_s`` (read to written, imports excluded),
        ``slices_alone_s`` (the model's forward passes on the analysed slices alone),
        ``ratio_to_slices_alone``, and the analysis's scan class and burden (to check
        that two settings give the same outputs).
    """
    meter = StageMeter()
    start = time.perf_counter()
    with meter('read'):
        volume = read_scan(source)
    with meter('model_load'):
        model = init_ssm(config, checkpoint, device=device)
    analysis = analyze_scan(model, volume, batch_size=batch_size, checkpoint=checkpoint,
                            fit_margin_mm=fit_margin_mm, meter=meter)
    with tempfile.TemporaryDirectory() as tmp, meter('write'):
        _, errors = write_report(analysis, osp.join(tmp, 'report'))
    total = time.perf_counter() - start
    if errors:
        raise RuntimeError(f'{source}: outputs not written: {errors}')

    analysed = np.array([row['index'] for row in analysis.slices if row['analysed']], int)
    alone = time.perf_counter()
    for _ in predict_slices(model, volume, analysed, batch_size, analysis.grid):
        pass
    alone = time.perf_counter() - alone
    bf16 = model.cfg.model.get('cpu_bf16', 'off') != 'off' and device == 'cpu' \
        and native_bf16()
    grid = analysis.settings['model_grid']
    return dict(
        source=source, config=config, checkpoint=checkpoint, device=device,
        cpu=cpu_model(), native_bf16=native_bf16(), threads=torch.get_num_threads(),
        precision='bfloat16 (cpu_bf16)' if bf16 else 'float32',
        slices=analysis.counts['slices'], analysed=analysis.counts['analysed'],
        slice_shape=list(volume.hu.shape[1:]), batch_size=batch_size,
        fit_margin_mm=fit_margin_mm,
        canvas_rows_columns=None if grid is None else grid['canvas_rows_columns'],
        seconds=dict(meter.seconds), peak_rss_mb=dict(meter.peak_rss_mb),
        peak_rss_gb=max(meter.peak_rss_mb.values(), default=0.0) / 1024,
        peaks_reset_per_stage=meter.peaks_reset, total_s=total, slices_alone_s=alone,
        slices_alone_s_per_slice=alone / max(len(analysed), 1),
        ratio_to_slices_alone=total / alone if alone else None,
        outputs=dict(scan=analysis.scan, burden=analysis.burden['total'],
                     counts=analysis.counts))
