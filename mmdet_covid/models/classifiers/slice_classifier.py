"""SliceClassifier: the plain image classifier baseline of the paper (ResNet18)."""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModel
from torch import Tensor

from ...datasets.ct_slice_cls_dataset import COVIDX_CLASSES
from ..utils import bf16_active, bf16_call, check_cpu_bf16

# mmdet's stock preprocessing (as in the SSM configs): ImageNet mean/std on
# 0-255 pixels, BGR -> RGB. Only the statistics are ImageNet's, not weights.
IMAGENET_PREPROCESSOR = dict(
    type='DetDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_size_divisor=32)


@MODELS.register_module()
class SliceClassifier(BaseModel):
    """Backbone + global average pooling + linear layer: one class per slice.

    The baseline that the paper compares the SSM with (a ResNet18 trained
    from scratch on the same classification data). It reads and writes the
    SSM's data contract, so the same dataloaders and the same
    :class:`ClsSensitivityF1` metric serve both: ``gt_label`` ``(1, )`` in,
    ``pred_score`` ``(C, )`` probabilities and ``pred_label`` ``(1, )`` out.

    With mmdet's ``ResNet`` as backbone, set ``norm_eval=False``: its default
    (``True``) keeps BatchNorm in eval mode during training, which suits
    ImageNet-pretrained weights but leaves a network trained from scratch
    with running statistics that never move from their initial values.

    Args:
        backbone (dict): Backbone config, e.g. mmdet ``ResNet`` with
            ``depth=18, out_indices=(3, ), norm_eval=False, init_cfg=None``
            (Kaiming init, no pretrained weights). The last feature map it
            returns is pooled.
        num_classes (int): Number of classes. Defaults to 3.
        classes (Sequence[str]): Class names in label order, ``num_classes``
            of them. Defaults to the classification dataset's, ``COVIDX_CLASSES``.
        in_channels (int): Channels of the last feature map. Defaults to 512
            (ResNet18/34 stage 4).
        loss (dict): An mmdet classification loss on ``(N, C)`` logits and
            ``(N, )`` labels. Defaults to softmax cross-entropy.
        cpu_bf16 (str): On a CPU, run the backbone's convolutions in
            bfloat16 (autocast; the pooled features, the linear layer and
            the loss stay float32): ``'off'``, ``'inference'`` (eval mode
            only) or ``'always'`` (training too), as
            :class:`DualTaskDetector`'s option of the same name. Warns and
            stays float32 on a CPU without native bfloat16. Defaults to
            ``'off'``.
        data_preprocessor (dict, optional): Defaults to mmdet's
            ``DetDataPreprocessor`` with ImageNet mean/std and BGR -> RGB.
        init_cfg (dict or list[dict], optional): Initialisation of the model.
            Defaults to ``Normal(std=0.01)`` on the linear layer (the
            backbone brings its own).
    """

    def __init__(self,
                 backbone: ConfigType,
                 num_classes: int = 3,
                 classes: Sequence[str] = COVIDX_CLASSES,
                 in_channels: int = 512,
                 loss: ConfigType = dict(type='CrossEntropyLoss', loss_weight=1.0),
                 cpu_bf16: str = 'off',
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = dict(type='Normal', layer='Linear', std=0.01)
                 ) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(IMAGENET_PREPROCESSOR)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if len(classes) != num_classes:
            raise ValueError(f'SliceClassifier: num_classes={num_classes} but '
                             f'{len(classes)} classes {tuple(classes)}')
        self.classes = tuple(classes)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.backbone = MODELS.build(backbone)
        self.fc = nn.Linear(in_channels, num_classes)
        self.loss_cls = MODELS.build(loss)
        self.cpu_bf16 = check_cpu_bf16(cpu_bf16, type(self).__name__)

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[SampleList] = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], SampleList, Tensor]:
        """The three modes of an mmengine model.

        Args:
            inputs (Tensor): ``(N, 3, H, W)`` preprocessed images.
            data_samples (list[:obj:`DetDataSample`], optional): The batch's
                samples; ``'loss'`` needs their ``gt_label``.
            mode (str): ``'loss'``, ``'predict'`` or ``'tensor'``.

        Returns:
            ``'loss'``: dict with ``slice_loss`` and ``slice_acc`` (percent, no
            gradient); ``'predict'``: the data samples with ``pred_score``
            and ``pred_label``; ``'tensor'``: ``(N, C)`` logits.
        """
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs)
        raise RuntimeError(f'SliceClassifier: invalid mode {mode!r}; '
                           f'expected "loss", "predict" or "tensor"')

    def _forward(self, inputs: Tensor) -> Tensor:
        """Class logits ``(N, C)`` of ``(N, 3, H, W)`` images."""
        feat = bf16_call(self.backbone, inputs,
                         enabled=bf16_active(self.cpu_bf16, self.training, inputs))[-1]
        if feat.size(1) != self.in_channels:
            raise ValueError(
                f'SliceClassifier: the backbone\'s last feature map has '
                f'{feat.size(1)} channels but in_channels={self.in_channels}')
        return self.fc(feat.mean(dim=(2, 3)))

    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        """Loss and accuracy of a classification batch.

        Returns:
            dict: ``slice_loss`` and ``slice_acc`` (batch accuracy in percent;
            its key has no ``loss`` so mmengine logs it without summing it).
        """
        labels = self._gt_labels(data_samples).to(inputs.device)
        logits = self._forward(inputs)
        with torch.no_grad():
            acc = (logits.argmax(1) == labels).float().mean() * 100
        return dict(slice_loss=self.loss_cls(logits, labels), slice_acc=acc)

    def predict(self, inputs: Tensor, data_samples: SampleList) -> SampleList:
        """Class probabilities and label of each image.

        Returns:
            list[:obj:`DetDataSample`]: the inputs' samples with
            ``pred_score`` ``(C, )`` (softmax, sums to 1) and ``pred_label``
            ``(1, )``, as :meth:`DualTaskDetector.predict` writes them.
        """
        scores = F.softmax(self._forward(inputs), dim=1)
        for sample, score in zip(data_samples, scores):
            sample.pred_score = score
            sample.pred_label = score.argmax().view(1)
        return data_samples

    def _gt_labels(self, data_samples: Optional[SampleList]) -> Tensor:
        """``(N, )`` labels from the samples' ``gt_label``, checked."""
        if not data_samples:
            raise ValueError('SliceClassifier: mode="loss" needs the data samples')
        missing: List[int] = [i for i, s in enumerate(data_samples) if 'gt_label' not in s]
        if missing:
            raise KeyError(f'SliceClassifier: data samples {missing} of the batch have no '
                           f'gt_label; the classifier trains on classification samples only')
        labels = torch.cat([s.gt_label.view(-1) for s in data_samples]).long()
        if labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(f'SliceClassifier: gt_label must lie in [0, {self.num_classes}), '
                             f'got {labels.tolist()}')
        return labels
