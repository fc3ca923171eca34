"""Checks of a training run's starting point, before mmengine loads anything."""
import glob
import logging
import os
import os.path as osp

from mmengine.logging import print_log


def remove_orphaned_temp_files(work_dir: str) -> int:
    """Delete the temporary files that a killed atomic checkpoint write left.

    ``AtomicLocalBackend`` writes ``.tmp-*`` next to the target and renames
    it; a process killed in between leaves the temporary file behind.

    Returns:
        int: How many were removed (each is logged).
    """
    orphans = sorted(glob.glob(osp.join(work_dir, '.tmp-*')))
    for path in orphans:
        os.remove(path)
        print_log(f'removed {path}: a checkpoint write that was interrupted',
                  logger='current', level=logging.WARNING)
    return len(orphans)


def check_resume_source(runner) -> None:
    """Fail clearly when ``--resume`` (without a path) has nothing to resume.

    mmengine reads ``<work_dir>/last_checkpoint`` and, when it is missing,
    logs "resumed from None" and trains from scratch; a garbage or empty file
    gives an unrelated error later. Both become an error that says what to do.

    Raises:
        FileNotFoundError: no ``last_checkpoint`` in the work dir.
        ValueError: ``last_checkpoint`` does not name an existing file.
    """
    if not runner.resuming or runner.load_from is not None:
        return
    record = osp.join(runner.work_dir, 'last_checkpoint')
    if not osp.exists(record):
        raise FileNotFoundError(
            f'--resume: nothing to resume in {runner.work_dir} (no last_checkpoint '
            f'file, i.e. no checkpoint was saved there). Pass the checkpoint to resume '
            f'(--resume PATH) or start a fresh run without --resume.')
    with open(record, 'rb') as f:
        raw = f.read()
    try:
        target = raw.decode('utf-8').strip()
    except UnicodeDecodeError:
        target = None
    if not target or not osp.isfile(target):
        shown = repr(target) if target is not None else f'{len(raw)} bytes that are not text'
        raise ValueError(
            f'--resume: {record} should hold the path of the latest checkpoint, but it '
            f'holds {shown}, which is not a checkpoint file. Pass the checkpoint to '
            f'resume (--resume PATH) or start a fresh run without --resume.')
