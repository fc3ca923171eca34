"""Run one of mmdet's own tools (train.py / test.py), also on CPUs under torchrun.

``tools/train.py`` and ``tools/test.py`` are this, for one script each. mmdet's
scripts are what ``mim train/test mmdet`` runs. Under ``--launcher
pytorch`` mmengine initialises the process group with a call to
``torch.cuda.set_device``, which fails on a machine without GPUs; this wrapper
initialises it with gloo first (the runner then uses that group) and runs the
stock script unchanged.
"""
import os.path as osp
import runpy
import sys

import torch
import torch.distributed as dist


def _launcher(argv) -> str:
    """The value of ``--launcher`` in ``argv`` (``'none'`` without it)."""
    for i, arg in enumerate(argv):
        if arg == '--launcher' and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith('--launcher='):
            return arg.split('=', 1)[1]
    return 'none'


def run_mmdet_tool(name: str) -> None:
    """Run ``mmdet/.mim/tools/<name>`` with this process's ``sys.argv``."""
    import mmdet

    if _launcher(sys.argv) == 'pytorch' and not torch.cuda.is_available() \
            and not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    script = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', name)
    sys.argv[0] = script
    runpy.run_path(script, run_name='__main__')
