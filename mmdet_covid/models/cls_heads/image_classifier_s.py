"""Image classifier S: the RoI batch (B x 5) -> slice class (paper Fig. 3)."""
from typing import Dict, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmdet.registry import MODELS
from torch import Tensor

from ...datasets.ct_slice_cls_dataset import COVIDX_CLASSES


@MODELS.register_module()
class ImageClassifierS(BaseModule):
    """Flatten the ranked RoI batch and classify the slice with an MLP.

    ``B x 5 -> FC 512 -> ReLU -> FC 512 -> ReLU -> FC num_classes``, Kaiming
    (fan_out) initialisation as in the reference code.

    Args:
        in_features (int): ``B * 5``. Defaults to 640 (B = 128).
        hidden_channels (int): Width of the two hidden layers. Defaults to 512.
        classes (Sequence[str]): Class names in index order. Defaults to
            the classification dataset's, ``COVIDX_CLASSES`` (COVIDx-CT's labels 0, 1, 2).
        loss (dict): The loss. The default is paper eq. 3: binary
            cross-entropy with logits against the one-hot label, averaged
            over all elements. ``dict(type='CrossEntropyLoss')`` gives the
            usual softmax cross-entropy.
        init_cfg (dict or list[dict]): Initialisation config.
    """

    def __init__(self,
                 in_features: int = 640,
                 hidden_channels: int = 512,
                 classes: Sequence[str] = COVIDX_CLASSES,
                 loss: dict = dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
                 init_cfg=dict(
                     type='Kaiming', layer='Linear', mode='fan_out',
                     nonlinearity='relu', distribution='normal', bias=0.)) -> None:
        super().__init__(init_cfg)
        self.classes = tuple(classes)
        self.in_features = in_features
        self.mlp = nn.Sequential(
            nn.Linear(in_features, hidden_channels), nn.ReLU(inplace=True),
            nn.Linear(hidden_channels, hidden_channels), nn.ReLU(inplace=True),
            nn.Linear(hidden_channels, len(self.classes)))
        self.loss_cls = MODELS.build(loss)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def forward(self, roi_batch: Tensor) -> Tensor:
        """Class logits.

        Args:
            roi_batch (Tensor): ``(N, B, 5)`` ranked RoI batch of N images.

        Returns:
            Tensor: ``(N, num_classes)`` logits.
        """
        feats = roi_batch.flatten(1)
        if feats.size(1) != self.in_features:
            raise ValueError(
                f'ImageClassifierS expects {self.in_features} features per '
                f'image (in_features = 5 x RoIBatchSelection.num_rois), got '
                f'a batch of shape {tuple(roi_batch.shape)}')
        return self.mlp(feats)

    def loss(self, roi_batch: Tensor, labels: Tensor) -> Dict[str, Tensor]:
        """Classification loss and accuracy of a batch.

        Args:
            roi_batch (Tensor): ``(N, B, 5)``.
            labels (Tensor): ``(N, )`` class indices.

        Returns:
            dict: ``loss`` (the configured loss) and ``acc`` (percent, not
            back-propagated).
        """
        logits = self(roi_batch)
        with torch.no_grad():
            acc = (logits.argmax(1) == labels).float().mean() * 100
        return dict(loss=self.loss_cls(logits, labels), acc=acc)

    def predict(self, roi_batch: Tensor) -> Tensor:
        """Class probabilities ``(N, num_classes)``, each row summing to 1.

        Softmax over the logits in both loss modes: with the BCE loss the
        per-class sigmoids do not sum to one, and softmax keeps their argmax.
        """
        return F.softmax(self(roi_batch), dim=1)
