"""Print the parameter count of a model config, per component and in total.

    python tools/count_params.py configs/ssm/ssm_r18-b3-aug_50e_cncb-covidx.py

Frozen parameters (the classification RoI branch) count: Table I of the paper
counts them too.
"""
import argparse
from collections import OrderedDict
from typing import Dict

from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import import_modules_from_strings
from torch import nn


def build_model(config: str) -> nn.Module:
    """Build ``cfg.model`` of a config file (no weights loaded)."""
    cfg = Config.fromfile(config)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    from mmdet.registry import MODELS
    return MODELS.build(cfg.model)


def count_params(model: nn.Module) -> Dict[str, int]:
    """Parameters per top-level child (RoI head split by branch) and total."""
    counts: Dict[str, int] = OrderedDict()
    for name, child in model.named_children():
        if name == 'roi_head':
            for sub_name, sub in child.named_children():
                counts[f'roi_head.{sub_name}'] = sum(p.numel() for p in sub.parameters())
        else:
            counts[name] = sum(p.numel() for p in child.parameters())
    counts = OrderedDict((k, v) for k, v in counts.items() if v > 0)
    counts['total'] = sum(p.numel() for p in model.parameters())
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='+', help='model config file(s)')
    args = parser.parse_args()
    for config in args.config:
        counts = count_params(build_model(config))
        print(config)
        for name, num in counts.items():
            print(f'  {name:<32} {num:>12,d}  {num / 1e6:7.2f}M')


if __name__ == '__main__':
    main()
