from .dual_task_loops import DualTaskTestLoop, DualTaskValLoop
from .interleaved_loop import InterleavedTrainLoop

__all__ = ['DualTaskTestLoop', 'DualTaskValLoop', 'InterleavedTrainLoop']
