"""An archive's summary: ``summary.csv``, ``summary.json`` and ``index.html``, one row per
scan (patient, class, burden, ground glass and consolidation, warnings, a link to its
report), each file written whole (a temporary file renamed over the last one)."""
import csv
import html
import io
import os.path as osp
from typing import Dict, List

from ..datasets.ct_slice_cls_dataset import COVIDX_CLASSES
from ..io.atomic_write import atomic_write_bytes, atomic_write_json
from ..utils.spreadsheet import spreadsheet_safe
from ..utils.strict_json import strict_json
from .report import RESEARCH_USE, fmt

CSV_COLUMNS = ('name', 'status', 'reason', 'patient_id', 'input', 'series_uid', 'slices',
               'analysed', 'scan_class', *[f'p_{c}' for c in COVIDX_CLASSES],
               'lesion_slices', 'unit', 'lesion', 'lesion_percent', 'ggo', 'consolidation',
               'severity_score', 'warnings', 'not_validated', 'report', 'seconds')


def status_counts(rows: List[dict]) -> Dict[str, int]:
    """Scans per status (``done``, ``skipped``, ``failed``)."""
    counts = dict(done=0, skipped=0, failed=0)
    for row in rows:
        counts[row['status']] = counts.get(row['status'], 0) + 1
    return counts


def _flat(row: dict) -> dict:
    probs = row.get('probabilities') or {}
    return dict(row, **{f'p_{c}': probs.get(c) for c in COVIDX_CLASSES})


def _csv_text(rows: List[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in map(_flat, rows):
        writer.writerow([spreadsheet_safe('' if row.get(c) is None else row.get(c))
                         for c in CSV_COLUMNS])
    return buffer.getvalue()


def _html_text(rows: List[dict], meta: dict) -> str:
    e = html.escape
    counts = status_counts(rows)
    body = []
    for row in rows:
        link = (f'<a href="{e(row["report"])}">report</a>' if row.get('report') else '-')
        unit = {'ml': 'mL', 'voxels': 'voxels'}.get(row.get('unit'), '')
        body.append(
            f'<tr class="{e(row["status"])}"><td>{e(row["name"])}</td>'
            f'<td>{e(str(row.get("patient_id") or "-"))}</td><td>{e(row["status"])}</td>'
            f'<td>{e(str(row.get("scan_class") or "-"))}</td>'
            f'<td>{fmt(row.get("lesion"))} {unit}</td>'
            f'<td>{fmt(row.get("lesion_percent"))}</td><td>{fmt(row.get("ggo"))}</td>'
            f'<td>{fmt(row.get("consolidation"))}</td>'
            f'<td>{"-" if row.get("severity_score") is None else row["severity_score"]}</td>'
            f'<td>{row.get("warnings", 0)}</td>'
            f'<td>{link}</td><td class="reason">{e(row.get("reason") or "")}</td></tr>')
    notices = ''.join(f'<li>{e(n)}</li>' for n in meta.get('validation_notices', []))
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Archive analysis</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
.notice {{ background: #fff3cd; border: 1px solid #e0c060; padding: .6em; }}
.validation {{ background: #f8d7da; border: 1px solid #d08080; padding: .6em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #bbb; padding: 3px 8px; }}
tr.failed {{ background: #fbe3e3; }} td.reason {{ font-size: .85em; color: #555; }}
</style></head><body>
<h1>Archive analysis</h1>
<p class="notice"><b>{e(RESEARCH_USE)}</b></p>
{f'<ul class="validation">{notices}</ul>' if notices else ''}
<p>Input: <code>{e(str(meta.get('input')))}</code>; model <code>{e(str(meta.get('config')))}
</code>, checkpoint <code>{e(str(meta.get('checkpoint')))}</code>. Scans: {len(rows)}
({counts['done']} analysed, {counts['skipped']} reused from an earlier run,
{counts['failed']} failed).</p>
<table><tr><th>scan</th><th>patient</th><th>status</th><th>class</th><th>lesions</th>
<th>% of lung</th><th>ground glass</th><th>consolidation</th><th>severity 0-25</th>
<th>warnings</th><th>report</th>
<th>reason</th></tr>
{''.join(body)}
</table></body></html>
"""


def write_summary(rows: List[dict], out_dir: str, meta: dict) -> Dict[str, str]:
    """Write the summary of ``rows`` (:func:`~mmdet_covid.apis.archive_analysis.summary_row`)
    into ``out_dir``.

    Args:
        rows: one per scan.
        out_dir: the archive's output folder.
        meta: the run's input, model, settings and engine (``summary.json``'s ``run``);
            ``validation_notices`` are shown on the page.

    Returns:
        ``{kind: path}`` of ``csv``, ``json`` and ``html``.
    """
    paths = {kind: osp.join(out_dir, f'{name}') for kind, name in
             (('csv', 'summary.csv'), ('json', 'summary.json'), ('html', 'index.html'))}
    atomic_write_bytes(_csv_text(rows).encode('utf-8'), paths['csv'])
    atomic_write_json(strict_json(dict(notice=RESEARCH_USE, run=meta, counts=status_counts(rows),
                                       scans=rows)), paths['json'], indent=1)
    atomic_write_bytes(_html_text(rows, meta).encode('utf-8'), paths['html'])
    return paths
