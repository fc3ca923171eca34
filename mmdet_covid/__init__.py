"""mmdet-covid: the Single Shot Model (Ter-Sarkisov, 2021) as an MMDetection 3.x plugin.

Importing the package registers every module in mmdet's registries (configs do it
with ``custom_imports = dict(imports=['mmdet_covid'])``) and allow-lists the types
that mmengine writes into its checkpoints, so that ``torch.load(weights_only=True)``
(the default since torch 2.6) can resume them without switching the safety off.
"""
from .utils.checkpoint_safety import allow_mmengine_checkpoint_types
from .version import __version__

allow_mmengine_checkpoint_types()

from . import datasets, engine, evaluation, models, visualization  # noqa: E402,F401,I001
from . import apis  # noqa: E402,F401

__all__ = ['__version__', 'allow_mmengine_checkpoint_types']
