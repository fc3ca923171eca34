from .truncated_resnet import TruncatedResNet

__all__ = ['TruncatedResNet']
