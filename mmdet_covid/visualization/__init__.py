from .ssm_visualizer import SSMVisualizer

__all__ = ['SSMVisualizer']
