"""Test a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [options]``.

The same as ``mim test mmdet CONFIG --checkpoint CHECKPOINT``; also works under
torchrun on CPUs (see ``tools/dist_test.sh``).
"""
from mmdet_covid.utils.mmdet_tool import run_mmdet_tool

if __name__ == '__main__':
    run_mmdet_tool('test.py')
