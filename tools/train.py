"""Train a config: ``python tools/train.py CONFIG [mmdet train.py options]``.

The same as ``mim train mmdet CONFIG``; also works under torchrun on CPUs
(see ``tools/dist_train.sh``).
"""
from mmdet_covid.utils.mmdet_tool import run_mmdet_tool

if __name__ == '__main__':
    run_mmdet_tool('train.py')
