from .dual_task_detector import UPDATE_RULES, DualTaskDetector

__all__ = ['DualTaskDetector', 'UPDATE_RULES']
