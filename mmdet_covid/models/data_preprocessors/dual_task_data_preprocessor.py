"""DetDataPreprocessor that refuses batches mixing the two tasks."""
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.registry import MODELS


def batch_task(batch_data_samples) -> str:
    """``'cls'`` if every sample carries ``gt_label``, ``'seg'`` if none does.

    Raises:
        ValueError: if the batch mixes the two kinds of samples.
    """
    has_label = ['gt_label' in s for s in batch_data_samples]
    if all(has_label):
        return 'cls'
    if not any(has_label):
        return 'seg'
    raise ValueError(
        f'a batch mixes {sum(has_label)} classification samples (with '
        f'gt_label) and {len(has_label) - sum(has_label)} segmentation samples; '
        f'the two datasets must be loaded by separate dataloaders')


@MODELS.register_module()
class DualTaskDataPreprocessor(DetDataPreprocessor):
    """:class:`DetDataPreprocessor` for the SSM's two kinds of batches.

    Identical to the parent, but checks first that a training batch is all
    segmentation or all classification samples (the parent would fail on a
    mixed batch with an unrelated error), and pads masks only in batches that
    have instances: classification samples carry no ``gt_instances``.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        if training and data.get('data_samples'):
            batch_task(data['data_samples'])
        return super().forward(data, training)

    def pad_gt_masks(self, batch_data_samples) -> None:
        if 'gt_instances' in batch_data_samples[0]:
            super().pad_gt_masks(batch_data_samples)
