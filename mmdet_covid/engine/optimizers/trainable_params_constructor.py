"""An optimiser constructor that leaves frozen parameters out."""
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class TrainableParamsOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """:class:`DefaultOptimWrapperConstructor` minus ``requires_grad=False``.

    Without a ``paramwise_cfg`` the default constructor hands every
    parameter to the optimiser, frozen or not. The SSM's classification RoI
    branch is frozen by design (it is only ever overwritten by a copy of the
    segmentation branch), so it must never enter the optimiser: no optimiser
    state, no weight decay. How many tensors were left out is logged.
    """

    def __call__(self, model: nn.Module) -> OptimWrapper:
        optim_wrapper = super().__call__(model)
        num_frozen = 0
        for group in optim_wrapper.optimizer.param_groups:
            trainable = [p for p in group['params'] if p.requires_grad]
            num_frozen += len(group['params']) - len(trainable)
            group['params'] = trainable
        print_log(f'{type(self).__name__}: {num_frozen} frozen parameter '
                  f'tensors kept out of the optimiser', logger='current')
        return optim_wrapper
