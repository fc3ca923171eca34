from .dual_task_data_preprocessor import DualTaskDataPreprocessor, batch_task

__all__ = ['DualTaskDataPreprocessor', 'batch_task']
