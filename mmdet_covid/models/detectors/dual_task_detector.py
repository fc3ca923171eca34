"""DualTaskDetector: the Single Shot Model (lesion instances + slice class)."""
import contextlib
from typing import Dict, Iterator, List

import torch
from mmdet.models.detectors import TwoStageDetector
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..data_preprocessors import batch_task
from ..dense_heads import BatchRPNHead
from ..layers import SparseRoIAlign
from ..utils import RoIBatchReplay, bf16_active, bf16_call, check_cpu_bf16

# What the classification step may update besides S (paper section IV).
# "backbone" is the ResNet and its FPN, as torchvision's `model.backbone` that
# the reference code's update rules refer to.
UPDATE_RULES = ('s_only', 's_and_backbone', 's_and_backbone_bn')


@contextlib.contextmanager
def _norm_eval(norm_layers: List[_BatchNorm]) -> Iterator[None]:
    """Temporarily put ``norm_layers`` (those in training mode) in eval mode.

    In eval mode a BatchNorm layer normalises with, and keeps, its running
    statistics; its affine parameters still receive gradients.
    """
    switched = [m for m in norm_layers if m.training]
    for m in switched:
        m.eval()
    try:
        yield
    finally:
        for m in switched:
            m.train()


@contextlib.contextmanager
def _frozen(params: List[nn.Parameter]) -> Iterator[None]:
    """The forward inside records no gradient for ``params``.

    Gradients still flow through the modules to their inputs (e.g. from S
    through the RoI branch to the backbone). Only ``requires_grad`` changes,
    so the modules run as they are: tracing, ``get_flops`` and DDP see the
    same graph as at inference.
    """
    switched = [p for p in params if p.requires_grad]
    for p in switched:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in switched:
            p.requires_grad_(True)


@MODELS.register_module()
class DualTaskDetector(TwoStageDetector):
    """Mask R-CNN that also classifies the whole slice (the paper's SSM).

    ``loss()`` looks at the batch: segmentation samples (``gt_instances``)
    give the five Mask R-CNN losses, prefixed ``seg_``; classification
    samples (they carry ``gt_label``) give the loss of the image classifier
    S, prefixed ``cls_``, computed with the RPN and the RoI head in their
    inference behaviour (all proposals, no sampling). In the classification
    step gradients reach only S and, by ``update_rule``, the backbone:

    - ``'s_only'``: S alone; the backbone is a fixed feature extractor
      (no gradients, BatchNorm uses and keeps its running statistics);
    - ``'s_and_backbone'`` (the paper's best, rule 2): S + ResNet + FPN;
    - ``'s_and_backbone_bn'``: S + the ResNet's BatchNorm layers.

    As in the reference code (``model.eval(); S.train()`` before the
    classification step), every BatchNorm layer outside S runs in eval mode
    in the classification step, whatever the rule: it normalises with the
    running statistics of the segmentation steps and classification images
    never change them, so S trains on the features it sees at test time.
    ``cls_step_norm_eval=False`` keeps the layers in training mode instead
    (batch statistics; running statistics updated by both tasks), except
    for ``'s_only'``, whose backbone is always a fixed extractor.

    ``predict()`` returns in one forward pass the lesion instances
    (``pred_instances``) and the slice class: ``pred_score`` (class
    probabilities summing to 1) and ``pred_label``.

    Args:
        classifier (dict): Config of the image classifier S. Its
            ``in_features`` defaults to ``5 * B`` of the RoI head's
            ``roi_batch_selection``.
        update_rule (str): One of ``UPDATE_RULES``.
        cls_step_norm_eval (bool): BatchNorm outside S in eval mode during
            the classification step (the reference). Defaults to True.
        cls_replay (dict, optional): ``dict(size=..., batch=...)`` of a
            :class:`RoIBatchReplay`: with update rule ``'s_only'``, S learns
            on the new classification samples plus RoI batches of recent
            ones (a minibatch at the cost of batch size 1); ``slice_loss``
            and ``slice_acc`` are then those of that minibatch. Not in the
            paper, which trains S at batch size 1. ``steps=k`` adds ``k - 1``
            updates of S on remembered RoI batches alone after each
            classification step (see :meth:`train_step`). Defaults to None.
        channels_last (bool): Keep the images, the convolution weights and
            so the feature maps in channels-last memory order (NHWC), which
            oneDNN's CPU convolutions run faster (timings in
            docs/benchmarks.md); the RoI features of :class:`SparseRoIAlign`
            come out in that order without a copy. Only the memory layout
            changes: the same numbers up to float rounding, the same
            ``state_dict``. Needs
            :class:`SparseRoIAlign` RoI layers (mmcv's ``RoIAlign`` misreads
            channels-last maps; refused). Defaults to True.
        cpu_bf16 (str): On a CPU, run the convolutions and matrix products
            of the backbone, the neck, the RPN head (a :class:`BatchRPNHead`,
            as in the SSM configs; a stock ``RPNHead`` stays float32), the box
            heads and the mask head in bfloat16 (autocast; their outputs come
            back float32, and the proposals' decoding, RoIAlign, NMS, the
            paste and S stay float32): ``'off'``,
            ``'inference'`` (eval mode only) or ``'always'`` (training too).
            Worth it where the CPU computes bfloat16 natively (AVX-512 BF16,
            AMX); elsewhere it warns and stays float32. The model's one
            precision switch: the heads take no option of their own, this
            sets theirs (also when assigned after building). Not the paper's.
            Defaults to ``'off'``.
        Other args: see :class:`TwoStageDetector`.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: OptConfigType,
                 rpn_head: ConfigType,
                 roi_head: ConfigType,
                 classifier: ConfigType,
                 update_rule: str = 's_and_backbone',
                 cls_step_norm_eval: bool = True,
                 cls_replay: OptConfigType = None,
                 channels_last: bool = True,
                 cpu_bf16: str = 'off',
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        if update_rule not in UPDATE_RULES:
            raise ValueError(f'DualTaskDetector: update_rule must be one of '
                             f'{UPDATE_RULES}, got update_rule={update_rule!r}')
        super().__init__(
            backbone=backbone, neck=neck, rpn_head=rpn_head, roi_head=roi_head,
            train_cfg=train_cfg, test_cfg=test_cfg,
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not hasattr(self.roi_head, 'roi_batch'):
            raise TypeError(f'DualTaskDetector needs an AugmentedRoIHead, got '
                            f'{type(self.roi_head).__name__}')
        classifier = dict(classifier)
        feature_dim = self.roi_head.roi_batch_selection.feature_dim
        classifier.setdefault('in_features', feature_dim)
        if classifier['in_features'] != feature_dim:
            raise ValueError(
                f'DualTaskDetector: classifier.in_features='
                f'{classifier["in_features"]} but the RoI batch has '
                f'{feature_dim} values (5 x roi_batch_selection.num_rois)')
        self.classifier = MODELS.build(classifier)
        self.update_rule = update_rule
        self.cls_step_norm_eval = cls_step_norm_eval
        if cls_replay is not None and update_rule != 's_only':
            raise ValueError(
                f'DualTaskDetector: cls_replay needs update_rule=\'s_only\' (remembered '
                f'RoI batches carry no gradient to the backbone), got {update_rule!r}')
        self.cls_replay = None
        if cls_replay is not None:
            rows = (self.roi_head.roi_batch_selection.num_rois, 5)
            self.cls_replay = RoIBatchReplay(**dict(dict(row_shape=rows), **cls_replay))
        self.cpu_bf16 = cpu_bf16
        self.channels_last = channels_last
        if channels_last:
            self._check_roi_layers_read_channels_last()
            # 4-D weights; init and load_state_dict copy into them in place
            self.to(memory_format=torch.channels_last)

    @property
    def cpu_bf16(self) -> str:
        """See the class arguments; setting it also sets the RPN and RoI heads'
        mode, which they read in their forward."""
        return self._cpu_bf16

    @cpu_bf16.setter
    def cpu_bf16(self, mode: str) -> None:
        self._cpu_bf16 = check_cpu_bf16(mode, type(self).__name__)
        self.roi_head.cpu_bf16 = self._cpu_bf16
        if isinstance(self.rpn_head, BatchRPNHead):  # a stock RPNHead stays float32
            self.rpn_head.cpu_bf16 = self._cpu_bf16

    def _check_roi_layers_read_channels_last(self) -> None:
        """Refuse RoI layers that would misread channels-last feature maps:
        mmcv's RoIAlign kernels index the memory as NCHW whatever the
        tensor's strides (measured: wrong values, no error)."""
        for key in ('bbox_roi_extractor', 'mask_roi_extractor'):
            extractor = getattr(self.roi_head, key, None)
            for layer in getattr(extractor, 'roi_layers', []):
                if not isinstance(layer, SparseRoIAlign):
                    raise ValueError(
                        f'DualTaskDetector: channels_last=True needs RoI layers that read '
                        f'channels-last feature maps (SparseRoIAlign), but '
                        f'model.roi_head.{key}.roi_layer is {type(layer).__name__}, which '
                        f'reads them as NCHW memory: set model.channels_last=False')

    def extract_feat(self, batch_inputs: Tensor):
        """The stock features, of channels-last images if ``channels_last``, in
        bfloat16 arithmetic where ``cpu_bf16`` says (float32 maps out)."""
        if self.channels_last:
            batch_inputs = batch_inputs.contiguous(memory_format=torch.channels_last)
        return bf16_call(super().extract_feat, batch_inputs,
                         enabled=bf16_active(self.cpu_bf16, self.training, batch_inputs))

    def _cls_step_norm_layers(self) -> List[_BatchNorm]:
        """The BatchNorm layers that run in eval mode in the classification step."""
        if self.cls_step_norm_eval:
            in_s = set(self.classifier.modules())
            return [m for m in self.modules() if isinstance(m, _BatchNorm) and m not in in_s]
        if self.update_rule == 's_only':
            return [m for m in self.backbone.modules() if isinstance(m, _BatchNorm)]
        return []

    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Losses of a segmentation batch or of a classification batch."""
        if batch_task(batch_data_samples) == 'seg':
            losses = super().loss(batch_inputs, batch_data_samples)
            return {f'seg_{name}': value for name, value in losses.items()}
        return self.slice_loss(batch_inputs, batch_data_samples)

    def _cls_step_frozen_params(self) -> List[nn.Parameter]:
        """What the classification step must not train, per ``update_rule``."""
        trained = set(self.classifier.parameters())
        if self.update_rule == 's_and_backbone':
            trained |= set(self.backbone.parameters()) | set(self.neck.parameters())
        elif self.update_rule == 's_and_backbone_bn':
            trained |= {p for m in self.backbone.modules() if isinstance(m, _BatchNorm)
                        for p in m.parameters(recurse=False)}
        return [p for p in self.parameters() if p not in trained]

    def slice_loss(self, batch_inputs: Tensor,
                   batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Loss of S on a classification batch (paper eq. 3).

        The RPN and the RoI head run as at inference (all proposals, no
        sampling); gradients reach S and what ``update_rule`` allows.

        Returns:
            dict: ``slice_loss`` and ``slice_acc`` (batch accuracy in percent).
        """
        with _norm_eval(self._cls_step_norm_layers()), \
                _frozen(self._cls_step_frozen_params()):
            x = self.extract_feat(batch_inputs)
            with torch.no_grad():  # proposals never carry gradients
                rpn_results_list = self.rpn_head.predict(
                    tuple(f.detach() for f in x), batch_data_samples, rescale=False)
            roi_batch = self.roi_head.roi_batch(
                x, rpn_results_list, [s.metainfo for s in batch_data_samples])
        labels = torch.cat([s.gt_label.view(-1) for s in batch_data_samples]).to(
            roi_batch.device)
        if self.cls_replay is not None:
            self.cls_replay.push(roi_batch, labels)
            roi_batch, labels = self.cls_replay.minibatch(roi_batch, labels)
        losses = self.classifier.loss(roi_batch, labels)
        return {f'slice_{name}': value for name, value in losses.items()}

    def train_step(self, data, optim_wrapper) -> Dict[str, Tensor]:
        """The stock step; a classification step with ``cls_replay.steps > 1``
        then updates S ``steps - 1`` more times, each on a minibatch of
        remembered RoI batches (no forward pass of the detector)."""
        log_vars = super().train_step(data, optim_wrapper)
        replay = self.cls_replay
        if replay is None or replay.steps == 1 or \
                batch_task(data['data_samples']) != 'cls':
            return log_vars
        for _ in range(replay.steps - 1):
            with optim_wrapper.optim_context(self):
                losses = self.classifier.loss(*replay.sample())
            loss, _ = self.parse_losses({f'slice_{k}': v for k, v in losses.items()})
            optim_wrapper.update_params(loss)
        return log_vars

    def predict(self, batch_inputs: Tensor, batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Lesion instances and slice class in one forward pass: the stock
        :meth:`TwoStageDetector.predict`, whose box forward over all proposals
        also gives S its RoI batch.

        Returns:
            list[:obj:`DetDataSample`]: with ``pred_instances`` (``bboxes``,
            ``scores``, ``labels``, ``masks``), ``pred_score`` (``(C, )``
            probabilities) and ``pred_label`` (``(1, )``).
        """
        with self.roi_head.keeping_box_forward() as kept:
            batch_data_samples = super().predict(batch_inputs, batch_data_samples, rescale)
        roi_batch = self.roi_head.roi_batch_from_kept(
            kept, [s.metainfo for s in batch_data_samples])
        scores = self.classifier.predict(roi_batch)
        for sample, score in zip(batch_data_samples, scores):
            sample.pred_score = score
            sample.pred_label = score.argmax().view(1)
        return batch_data_samples

    def _forward(self, batch_inputs: Tensor, batch_data_samples: SampleList = None) -> tuple:
        """Raw outputs: the stock RoI head outputs and S's logits."""
        with self.roi_head.keeping_box_forward() as kept:
            roi_outs, = super()._forward(batch_inputs, batch_data_samples)
        roi_batch = self.roi_head.roi_batch_from_kept(
            kept, [s.metainfo for s in batch_data_samples])
        return roi_outs, self.classifier(roi_batch)
