"""An output folder written whole or not at all, and the checks made before any work.

A report is several files that belong together. :func:`staged_folder` writes them into a
hidden folder beside the destination (``.<name>.partial-<pid>``) and renames it into place
when the block ends, so that a run killed while writing leaves the previous report (or
nothing) and never a mix of old and new files. :func:`check_output_folder` refuses, before
a model is loaded, a destination that would destroy or pollute the input, or replace an
earlier report without ``--overwrite``.
"""
import contextlib
import os
import os.path as osp
import shutil
from typing import Iterator, Sequence


class OutputFolderError(ValueError):
    """An output folder that cannot or must not be written (the message says why)."""


def _inside(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (both real paths)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_output_folder(out_dir: str, inputs: Sequence[str] = (),
                        overwrite: bool = False) -> None:
    """Refuse an output folder that cannot or must not be written.

    Refused whatever ``overwrite`` says: a path that is a file; a folder that holds one of
    ``inputs`` (replacing it would delete the input); a folder inside an input folder (a
    DICOM-SEG written there becomes a second series of the input); a destination whose
    nearest existing parent is not writable. Refused unless ``overwrite``: an existing
    folder that is not empty (an earlier report: it would be replaced whole).

    Raises:
        OutputFolderError: naming the folder and the reason.
    """
    out = osp.realpath(out_dir)
    for source in inputs:
        src = osp.realpath(source)
        if osp.isdir(src) and _inside(out, src):
            raise OutputFolderError(
                f'--out-dir {out_dir}: it is or lies inside the input folder {source}; the '
                'outputs (a DICOM-SEG among them) would be read as part of the input next '
                'time. Choose a folder outside it')
        if _inside(src, out):
            raise OutputFolderError(
                f'--out-dir {out_dir}: it holds the input {source}; writing the report there '
                'would replace the input. Choose another folder')
    if osp.islink(osp.abspath(out_dir)):
        raise OutputFolderError(f'--out-dir {out_dir}: a symbolic link; expected a folder '
                                '(it would be replaced by one, not followed)')
    if osp.exists(out) and not osp.isdir(out):
        raise OutputFolderError(f'--out-dir {out_dir}: a file, not a folder')
    if osp.isdir(out) and os.listdir(out) and not overwrite:
        what = ('an earlier report (report.json)' if osp.exists(osp.join(out, 'report.json'))
                else f'{len(os.listdir(out))} file(s)')
        raise OutputFolderError(f'--out-dir {out_dir}: holds {what}; --overwrite replaces the '
                                'whole folder, or choose a new one')
    parent = osp.dirname(out)
    while not osp.exists(parent):
        parent = osp.dirname(parent)
    if not osp.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputFolderError(f'--out-dir {out_dir}: cannot create folders in {parent} '
                                '(not a writable folder)')


@contextlib.contextmanager
def staged_folder(out_dir: str, overwrite: bool = False) -> Iterator[str]:
    """Yield a new hidden folder beside ``out_dir`` to write into; when the block ends,
    it becomes ``out_dir`` (an existing ``out_dir`` is replaced only with ``overwrite``,
    and only then). If the block raises, the staged folder is removed and ``out_dir`` is
    left as it was.
    """
    out = osp.abspath(out_dir)
    parent, name = osp.split(out)
    os.makedirs(parent, exist_ok=True)
    staged = osp.join(parent, f'.{name}.partial-{os.getpid()}')
    if osp.exists(staged):  # left by a killed run of the same process id
        shutil.rmtree(staged)
    os.makedirs(staged)
    try:
        yield staged
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    try:
        _swap_in(staged, out, out_dir, overwrite)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def _swap_in(staged: str, out: str, out_dir: str, overwrite: bool) -> None:
    """Rename ``staged`` to ``out``; an existing ``out`` is moved aside first and put
    back if the rename fails, so that one of the two reports is always in place."""
    if osp.islink(out):
        raise OutputFolderError(f'{out_dir}: a symbolic link; expected a folder (or nothing)')
    if osp.isdir(out) and os.listdir(out):
        if not overwrite:
            raise OutputFolderError(f'{out_dir}: appeared while the report was written; '
                                    'not replaced (--overwrite replaces it)')
        parent, name = osp.split(out)
        old = osp.join(parent, f'.{name}.old-{os.getpid()}')
        shutil.rmtree(old, ignore_errors=True)  # left by a killed run of this process id
        os.replace(out, old)
        try:
            os.replace(staged, out)
        except BaseException:
            os.replace(old, out)  # the previous report back in place
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    if osp.isdir(out):
        os.rmdir(out)
    os.replace(staged, out)
