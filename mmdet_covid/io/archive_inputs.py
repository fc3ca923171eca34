"""The scans of an archive: every DICOM series of a folder tree, every NIfTI volume, or
the rows of a CSV manifest, each with the name of its output folder.

A DICOM series is found by its ``SeriesInstanceUID`` (headers only, as
:func:`~mmdet_covid.io.dicom_series.list_dicom_series` reads them), wherever its files
lie: a folder holding two series gives two scans, a series spread over sub-folders one.
Every file that is neither part of a series nor a NIfTI volume is counted, never dropped
silently.

The output name of a scan traces back to its input: the input's path below the root
with ``/`` written ``__`` and, for a DICOM series, ``-`` and the first 8 hex digits of
the SHA-1 of its UID (two series of one folder differ).
"""
import csv
import hashlib
import os
import os.path as osp
import re
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

from .ct_io import is_nifti
from .dicom_series import folder_files, header_text, list_dicom_series

MANIFEST_COLUMNS = ('path', 'series_uid', 'patient_id', 'lobes')


class ArchiveInputError(ValueError):
    """An archive or manifest that cannot be read (the message names the file and line)."""


@dataclass
class ScanJob:
    """One scan of an archive.

    Attributes:
        source: a DICOM folder (the series' common folder) or a NIfTI file.
        series_uid: the DICOM series to read from ``source``; None for NIfTI, or for a
            manifest row without one (the reader then takes the axial CT series with
            most slices).
        patient_id: from the manifest, or the series' ``PatientID`` header; None if
            neither says.
        name: the output folder's name (module docstring).
        files: the files the scan is read from (its fingerprint: paths, sizes and
            modification times; a rerun redoes a scan whose files changed).
        lobes: a lobe label volume on the scan's grid (manifest column ``lobes``), or
            None.
    """
    source: str
    series_uid: Optional[str]
    patient_id: Optional[str]
    name: str
    files: Tuple[str, ...]
    lobes: Optional[str] = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> 'ScanJob':
        """The job :meth:`to_dict` (through JSON) gave."""
        return cls(**dict(values, files=tuple(values['files'])))

    def fingerprint(self) -> str:
        """SHA-256 of the scan's (and its lobe labels') file paths, sizes and
        modification times."""
        digest = hashlib.sha256((self.series_uid or '').encode())
        for path in sorted(self.files) + ([self.lobes] if self.lobes else []):
            st = os.stat(path)
            digest.update(f'\0{osp.abspath(path)}\0{st.st_size}\0{st.st_mtime_ns}'.encode())
        return digest.hexdigest()


def output_name(relpath: str, series_uid: Optional[str]) -> str:
    """The output folder name of a scan at ``relpath`` (below the archive's root)."""
    rel = relpath[:-len('.nii.gz')] if relpath.lower().endswith('.nii.gz') else \
        osp.splitext(relpath)[0] if is_nifti(relpath) else relpath
    parts = [p for p in rel.replace(os.sep, '/').split('/') if p not in ('', '.')]
    name = re.sub(r'[^A-Za-z0-9._-]+', '_', '__'.join(parts).replace('..', '_')) or 'root'
    if series_uid:
        name += '-' + hashlib.sha1(series_uid.encode()).hexdigest()[:8]
    return name


def _unique(jobs: List[ScanJob]) -> List[ScanJob]:
    """Refuse two scans with one output name (paths that differ only in characters the
    name replaces): each is named, so that the user can rename one."""
    seen: Dict[str, ScanJob] = {}
    for job in jobs:
        if job.name in seen:
            raise ArchiveInputError(
                f'{seen[job.name].source} and {job.source}: both would be written to the '
                f'output folder {job.name!r}; rename one of them')
        seen[job.name] = job
    return jobs


def find_scans(root: str) -> Tuple[List[ScanJob], Dict[str, str]]:
    """Every DICOM series and NIfTI volume below ``root`` (recursively; hidden files and
    folders left out).

    Returns:
        ``(jobs, skipped)``: the scans, sorted by output name, and ``{path: reason}`` of
        every file that is neither (slice images, other formats, files that are not
        DICOM images of a series).
    """
    if not osp.isdir(root):
        raise ArchiveInputError(f'{root}: not a folder; expected the archive\'s root folder '
                                'or a CSV manifest (.csv)')
    skipped: Dict[str, str] = {}
    jobs = []
    for series in list_dicom_series(root, skipped):
        folder = osp.commonpath([osp.dirname(p) for p in series['files']])
        jobs.append(ScanJob(
            source=folder, series_uid=series['uid'],
            patient_id=header_text(series['headers'], 'PatientID'),
            name=output_name(osp.relpath(folder, root), series['uid']),
            files=tuple(series['files'])))
    for path in list(skipped):
        if is_nifti(path):
            del skipped[path]
            jobs.append(ScanJob(source=path, series_uid=None, patient_id=None,
                                name=output_name(osp.relpath(path, root), None),
                                files=(path, )))
    return _unique(sorted(jobs, key=lambda j: j.name)), skipped


def read_manifest(path: str) -> List[ScanJob]:
    """The scans of a CSV manifest: a header row with ``path`` (a DICOM folder or a NIfTI
    file, relative to the manifest's folder or absolute) and optionally ``series_uid``,
    ``patient_id`` and ``lobes`` (a lobe label volume on the scan's grid, relative or
    absolute); one scan per row, in the manifest's order.

    Raises:
        ArchiveInputError: naming the manifest, the line and what was expected.
    """
    base = osp.dirname(osp.abspath(path))
    try:
        with open(path, newline='', encoding='utf-8-sig') as f:
            reader = csv.DictReader(f)
            rows = [(reader.line_num, row) for row in reader]  # (line, row): blank lines skip
            columns = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ArchiveInputError(f'{path}: cannot be read as a CSV manifest ({exc})') from exc
    if not rows:
        raise ArchiveInputError(f'{path}: no rows; expected a header line with the columns '
                                f'{", ".join(MANIFEST_COLUMNS)} (only path is required) and '
                                'one line per scan')
    unknown = [c for c in columns if c not in MANIFEST_COLUMNS]
    if 'path' not in columns or unknown:
        raise ArchiveInputError(f'{path} line 1: columns {columns}; expected path and '
                                f'optionally series_uid, patient_id, lobes'
                                + (f' (unknown: {unknown})' if unknown else ''))
    jobs = []
    for line, row in rows:
        source = (row.get('path') or '').strip()
        if not source:
            raise ArchiveInputError(f'{path} line {line}: empty path')
        source = source if osp.isabs(source) else osp.normpath(osp.join(base, source))
        if not osp.exists(source):
            raise ArchiveInputError(f'{path} line {line}: {source} does not exist; expected '
                                    'a DICOM series folder or a NIfTI volume')
        if osp.isfile(source) and not is_nifti(source):
            raise ArchiveInputError(f'{path} line {line}: {source} is a file but not a NIfTI '
                                    'volume (.nii, .nii.gz); a DICOM series is given by its '
                                    'folder')
        uid = (row.get('series_uid') or '').strip() or None
        if osp.isfile(source):
            if uid:
                raise ArchiveInputError(f'{path} line {line}: series_uid {uid} given for the '
                                        f'NIfTI volume {source}')
            files = (source, )
        else:
            maybe_dicom, _, _ = folder_files(source)
            files = tuple(maybe_dicom)
        lobes = (row.get('lobes') or '').strip() or None
        if lobes:
            lobes = lobes if osp.isabs(lobes) else osp.normpath(osp.join(base, lobes))
            if not osp.isfile(lobes) or not is_nifti(lobes):
                raise ArchiveInputError(f'{path} line {line}: lobes {lobes} is not a NIfTI '
                                        'file (.nii, .nii.gz)')
        rel = osp.relpath(source, base)
        jobs.append(ScanJob(source=source, series_uid=uid,
                            patient_id=(row.get('patient_id') or '').strip() or None,
                            name=output_name(rel if not rel.startswith('..') else source, uid),
                            files=files, lobes=lobes))
    return _unique(jobs)


def archive_scans(source: str) -> Tuple[List[ScanJob], Dict[str, str]]:
    """The scans of a folder tree (:func:`find_scans`) or of a ``.csv`` manifest
    (:func:`read_manifest`, nothing skipped)."""
    if osp.isfile(source) and source.lower().endswith('.csv'):
        return read_manifest(source), {}
    if osp.isfile(source):
        raise ArchiveInputError(f'{source}: a file but not a CSV manifest (.csv); expected '
                                'the archive\'s root folder or a manifest')
    return find_scans(source)
