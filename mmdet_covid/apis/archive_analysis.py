"""Many scans, the model loaded once: :func:`analyze_scan` over an archive, one report
folder per scan, on this process (``engine='local'``) or on a Ray cluster's actors
(``engine='ray'``: Ray Data ``map_batches`` with a callable class, so that each actor
loads the model once).

Every scan's report is written whole or not at all (``write_report`` stages it and
renames it into place). A scan whose ``report.json`` already holds the same key (the
scan's files, the config, the checkpoint and the analysis settings) is skipped unless
``force``; a scan that fails (unreadable, not CT, no lung) becomes a row with its reason
and the run goes on.
"""
import hashlib
import json
import os.path as osp
import time
import traceback
from typing import Iterator, List, Optional

from ..io.archive_inputs import ScanJob
from ..io.dicom_series import header_text
from ..io.ct_io import CTReadError
from ..scan.lobes import LobeLabelError, load_lobes
from ..utils.strict_json import strict_json
from .inference import init_ssm
from .scan_analysis import analyze_scan, file_sha256, read_scan

# analyze_scan's options that change a report (part of a scan's key).
SETTING_NAMES = ('batch_size', 'lesion_score_thr', 'min_lesion_slices', 'consolidation_hu',
                 'lung_threshold_hu', 'lesion_margin_mm', 'allow_non_ct', 'fit_margin_mm')


def summary_row(job: ScanJob, status: str, reason: str = '', report: Optional[dict] = None,
                seconds: float = 0.0) -> dict:
    """One row of the archive summary: the scan, what happened, and its report's main
    figures (None where there is no report)."""
    report = report or {}
    archive = report.get('archive', {})
    scan = report.get('scan') or {}
    total = (report.get('burden') or {}).get('total', {})
    unit = 'ml' if 'lesion_ml' in total else 'voxels'
    counts = report.get('counts', {})
    return dict(
        name=job.name, status=status, reason=reason,
        patient_id=archive.get('patient_id', job.patient_id), input=job.source,
        series_uid=job.series_uid or ((report.get('input') or {}).get('series') or {}).get('uid'),
        slices=counts.get('slices'), analysed=counts.get('analysed'),
        scan_class=scan.get('class'), probabilities=scan.get('probabilities'),
        lesion_slices=scan.get('lesion_slices'), unit=unit if total else None,
        severity_score=(report.get('lobes') or {}).get('severity_score'),
        lesion=total.get(f'lesion_{unit}'), lesion_percent=total.get('lesion_percent'),
        ggo=total.get(f'ggo_{unit}'), consolidation=total.get(f'consolidation_{unit}'),
        warnings=len(report.get('warnings', [])),
        not_validated=len(report.get('validation_notices', [])),
        notices=list(report.get('validation_notices', [])),
        report=osp.join('series', job.name, 'report.html') if report.get('outputs', {}).get(
            'html') else None,
        seconds=round(seconds, 3))


class ArchiveAnalyser:
    """Analyse scans one by one with a model loaded once; callable on a
    :class:`~mmdet_covid.io.archive_inputs.ScanJob`, returning its summary row.

    Args:
        config: the model's config file.
        checkpoint: its weights.
        out_dir: the archive's output folder; scan ``name`` goes to
            ``out_dir/series/name``.
        device: where the model runs.
        force: analyse scans whose report exists for the same key again.
        cfg_options: config overrides (mmengine syntax), part of the key.
        threads: torch threads of this analyser (None: torch's default).
        **settings: :func:`analyze_scan`'s options (:data:`SETTING_NAMES`).
    """

    def __init__(self, config: str, checkpoint: str, out_dir: str, device: str = 'cpu',
                 force: bool = False, cfg_options: Optional[dict] = None,
                 threads: Optional[int] = None, **settings):
        import torch

        unknown = sorted(set(settings) - set(SETTING_NAMES))
        if unknown:
            raise TypeError(f'ArchiveAnalyser: unknown settings {unknown}; expected some of '
                            f'{SETTING_NAMES}')
        if threads:
            torch.set_num_threads(threads)
        self.checkpoint, self.out_dir, self.force = checkpoint, out_dir, force
        self.settings = settings
        with open(config, 'rb') as f:
            config_sha = hashlib.sha256(f.read()).hexdigest()
        self.model_key = dict(config_sha256=config_sha,
                              checkpoint_sha256=file_sha256(checkpoint),
                              cfg_options=cfg_options or {}, settings=settings)
        self.model = init_ssm(config, checkpoint, device=device, cfg_options=cfg_options)

    def key(self, job: ScanJob) -> str:
        """What a report must have been made from to be reused: the scan's files, the
        config, the checkpoint and the settings."""
        return hashlib.sha256(json.dumps(dict(self.model_key, fingerprint=job.fingerprint()),
                                         sort_keys=True, default=str).encode()).hexdigest()

    def previous(self, job: ScanJob, key: str) -> Optional[dict]:
        """The scan's earlier report if it was made from the same ``key``."""
        path = osp.join(self.out_dir, 'series', job.name, 'report.json')
        try:
            with open(path) as f:
                report = json.load(f)
        except (OSError, ValueError):
            return None
        return report if report.get('archive', {}).get('key') == key else None

    def __call__(self, job: ScanJob) -> dict:
        from ..scan.report import write_report

        start = time.perf_counter()
        try:
            key = self.key(job)
        except OSError as exc:  # a file vanished since the archive was listed
            return summary_row(job, 'failed', f'input changed while listed: {exc}')
        report = None if self.force else self.previous(job, key)
        if report is not None:
            return summary_row(job, 'skipped', 'report exists for the same input, config, '
                               'checkpoint and settings (--force redoes it)', report)
        try:
            volume = read_scan(job.source, job.series_uid,
                               self.settings.get('allow_non_ct', False))
            lobes = load_lobes(job.lobes, volume) if job.lobes else None
            analysis = analyze_scan(self.model, volume, checkpoint=self.checkpoint,
                                    lobes=lobes, **self.settings)
        except (CTReadError, LobeLabelError) as exc:
            return summary_row(job, 'failed', f'unreadable: {exc}',
                               seconds=time.perf_counter() - start)
        except Exception as exc:  # recorded, and the archive goes on
            where = traceback.extract_tb(exc.__traceback__)[-1]
            return summary_row(job, 'failed', f'{exc.__class__.__name__}: {exc} '
                               f'({osp.basename(where.filename)}:{where.lineno})',
                               seconds=time.perf_counter() - start)
        headers = (volume.series or {}).get('datasets') or []
        patient = job.patient_id or header_text(headers, 'PatientID')
        out = osp.join(self.out_dir, 'series', job.name)
        extra = dict(archive=dict(key=key, job=job.to_dict(), patient_id=patient))
        try:
            paths, errors = write_report(analysis, out, overwrite=True, extra=extra)
        except OSError as exc:
            return summary_row(job, 'failed', f'report not written: {exc}',
                               seconds=time.perf_counter() - start)
        # the row from what was written, without reading it back (report.json may be
        # the output that failed)
        report = strict_json(dict(analysis.to_dict(), **extra, outputs={
            kind: osp.basename(path) for kind, path in paths.items()}))
        reason, status = '', 'done'
        if errors:
            status, reason = 'failed', 'outputs not written: ' + '; '.join(errors.values())
        elif not analysis.counts['analysed']:
            status, reason = 'failed', 'no lung found in any slice (report written)'
        return summary_row(job, status, reason, report, time.perf_counter() - start)


def analyse_local(jobs: List[ScanJob], **analyser_args) -> Iterator[dict]:
    """The summary rows of ``jobs``, analysed in this process in their order."""
    analyser = ArchiveAnalyser(**analyser_args)
    for job in jobs:
        yield analyser(job)


class RayArchiveWorker:
    """Ray Data's callable class: one :class:`ArchiveAnalyser` per actor (the model is
    loaded once per actor); a batch of jobs (JSON) in, their rows (JSON) out."""

    def __init__(self, analyser_args: dict):
        self.analyser = ArchiveAnalyser(**analyser_args)

    def __call__(self, batch: dict) -> dict:
        rows = [self.analyser(ScanJob.from_dict(json.loads(str(job))))
                for job in batch['job']]
        return {'row': [json.dumps(r) for r in rows]}


def analyse_ray(jobs: List[ScanJob], workers: int = 1, address: Optional[str] = None,
                cpus_per_worker: int = 1, **analyser_args) -> Iterator[dict]:
    """The summary rows of ``jobs``, analysed by ``workers`` Ray actors (in the order
    they finish).

    Args:
        jobs: the scans.
        workers: actors, each holding one model.
        address: a running Ray cluster (``ray start --head`` prints it); None starts a
            local Ray with ``workers * cpus_per_worker`` CPUs, shut down at the end.
        cpus_per_worker: CPUs (and torch threads) each actor takes.
        **analyser_args: :class:`ArchiveAnalyser`'s arguments.
    """
    try:
        import ray
    except ImportError as exc:
        raise ImportError('--engine ray needs Ray: pip install -e ".[ray]" (or '
                          '"ray[data]")') from exc
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, num_cpus=None if address else workers * cpus_per_worker,
                 include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the archive's own bar counts scans
        items = [{'job': json.dumps(job.to_dict())} for job in jobs]
        dataset = ray.data.from_items(items, override_num_blocks=max(1, len(items)))
        rows = dataset.map_batches(
            RayArchiveWorker, fn_constructor_kwargs=dict(
                analyser_args=dict(analyser_args, threads=cpus_per_worker)),
            batch_size=1, compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=cpus_per_worker)
        for row in rows.iter_rows():
            yield json.loads(row['row'])
    finally:
        if started:
            ray.shutdown()
