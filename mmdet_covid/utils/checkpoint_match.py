"""Does a checkpoint fit the model? Named missing, unexpected and reshaped keys.

mmengine and mmdet load weights non-strictly (``strict=False``): a checkpoint
of another variant - ResNet34 weights for a ResNet18 config, blocks 1-3 for a
blocks 1-2 config, a base model for an augmented one - loads with a warning
in the log and the run goes on with part of the model at its random
initialisation. That is what fine-tuning from ``load_from`` wants (the
warning says what was skipped); for testing and inference it silently gives
wrong numbers. :func:`check_checkpoint_matches` refuses such a checkpoint
with the keys that differ; :class:`DualTaskTestLoop`, ``tools/infer.py`` and
:func:`mmdet_covid.apis.init_ssm` call it.
"""
import re
from typing import List, Mapping, NamedTuple, Tuple, Union

import torch
from torch import nn

# mmengine strips the same prefix when it loads (DDP-wrapped checkpoints).
_MODULE_PREFIX = re.compile(r'^module\.')


class CheckpointMismatchError(ValueError):
    """A checkpoint whose weights do not fit the model."""


class StateDictDiff(NamedTuple):
    """Keys in which a checkpoint and a model differ (sorted)."""
    missing: List[str]  # in the model, not in the checkpoint
    unexpected: List[str]  # in the checkpoint, not in the model
    mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]]  # key, ckpt, model

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.mismatched)


def compare_state_dicts(model_state: Mapping[str, torch.Tensor],
                        checkpoint_state: Mapping[str, torch.Tensor]) -> StateDictDiff:
    """Compare the keys and shapes of two state dicts.

    ``checkpoint_state`` keys may carry DDP's ``module.`` prefix, as mmengine
    accepts them.
    """
    ckpt = {_MODULE_PREFIX.sub('', k): v for k, v in checkpoint_state.items()}
    missing = sorted(set(model_state) - set(ckpt))
    unexpected = sorted(set(ckpt) - set(model_state))
    mismatched = sorted(
        (k, tuple(ckpt[k].shape), tuple(model_state[k].shape))
        for k in set(model_state) & set(ckpt)
        if hasattr(ckpt[k], 'shape') and tuple(ckpt[k].shape) != tuple(model_state[k].shape))
    return StateDictDiff(missing, unexpected, mismatched)


def _named(keys: List[str], limit: int) -> str:
    shown = ', '.join(keys[:limit])
    return shown + (f' ... and {len(keys) - limit} more' if len(keys) > limit else '')


def _grouped(keys: List[str], other: List[str]) -> List[str]:
    """Name whole absent modules: ``backbone.layer1.2.* (13)`` for the keys
    under the shortest prefix that the other state dict has nothing of."""
    present = {'.'.join(k.split('.')[:i]) for k in other for i in range(1, k.count('.') + 1)}
    groups: dict = {}
    for key in keys:
        parts = key.split('.')
        prefix = next((p for p in ('.'.join(parts[:i]) for i in range(1, len(parts)))
                       if p not in present), key)
        groups.setdefault(prefix, []).append(key)
    return [f'{p}.* ({len(k)})' if p != k[0] else p for p, k in groups.items()]


def describe_diff(diff: StateDictDiff, model_keys: List[str], limit: int = 8) -> str:
    """One line per kind of difference, at most ``limit`` modules or keys
    named each (``model_keys``: the model's state-dict keys)."""
    checkpoint_keys = sorted(set(model_keys) - set(diff.missing)) + diff.unexpected
    lines = []
    if diff.missing:
        lines.append(f'{len(diff.missing)} model keys missing from the checkpoint: '
                     f'{_named(_grouped(diff.missing, checkpoint_keys), limit)}')
    if diff.unexpected:
        lines.append(f'{len(diff.unexpected)} checkpoint keys the model does not have: '
                     f'{_named(_grouped(diff.unexpected, model_keys), limit)}')
    if diff.mismatched:
        shapes = [f'{k} (checkpoint {tuple(a)}, model {tuple(b)})'
                  for k, a, b in diff.mismatched]
        lines.append(f'{len(diff.mismatched)} keys with another shape: '
                     f'{_named(shapes, limit)}')
    return '\n  '.join(lines)


def _unwrap(model: nn.Module) -> nn.Module:
    from mmengine.model import is_model_wrapper
    return model.module if is_model_wrapper(model) else model


def _state_dict_of(checkpoint: Union[str, Mapping]) -> Mapping[str, torch.Tensor]:
    if isinstance(checkpoint, str):
        from mmengine.runner.checkpoint import _load_checkpoint
        checkpoint = _load_checkpoint(checkpoint, map_location='cpu')
    if not isinstance(checkpoint, Mapping):
        raise CheckpointMismatchError(
            f'a checkpoint must be a dict (with a "state_dict"), got {type(checkpoint).__name__}')
    return checkpoint.get('state_dict', checkpoint)


def check_checkpoint_matches(model: nn.Module, checkpoint: Union[str, Mapping],
                             name: str = None) -> StateDictDiff:
    """Raise :class:`CheckpointMismatchError` unless the checkpoint fits exactly.

    Args:
        model (nn.Module): The model (a DDP wrapper is unwrapped).
        checkpoint (str or dict): A checkpoint path, or a loaded checkpoint
            (with or without a ``state_dict`` entry).
        name (str, optional): How to name the checkpoint in the message;
            defaults to its path.

    Returns:
        StateDictDiff: The (empty) difference.
    """
    model = _unwrap(model)
    name = name or (checkpoint if isinstance(checkpoint, str) else 'the checkpoint')
    model_state = model.state_dict()
    diff = compare_state_dicts(model_state, _state_dict_of(checkpoint))
    if diff:
        raise CheckpointMismatchError(
            f'checkpoint {name!r} does not fit this {type(model).__name__}:\n  '
            f'{describe_diff(diff, list(model_state))}\n'
            f'Is it a checkpoint of another variant (e.g. ResNet34 weights for a '
            f'ResNet18 config, blocks 1-2 for blocks 1-3, base for augmented)? Use '
            f'the config it was trained with (the checkpoint\'s meta["cfg"] holds it).')
    return diff

