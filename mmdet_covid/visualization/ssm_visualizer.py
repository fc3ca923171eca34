"""DetLocalVisualizer that also shows the slice class predicted by the SSM."""
import textwrap
from typing import Optional

import numpy as np
from mmdet.registry import VISUALIZERS
from mmdet.structures import DetDataSample
from mmdet.visualization import DetLocalVisualizer

from ..datasets.ct_slice_cls_dataset import COVIDX_CLASSES
from ..utils.strict_json import strict_json


@VISUALIZERS.register_module()
class SSMVisualizer(DetLocalVisualizer):
    """Draws lesion instances like :class:`DetLocalVisualizer`, and captions
    the prediction panel with the predicted class and its probabilities (and
    the ground truth class when the sample has one).

    Instances are always named from ``lesion_classes``: the runner gives the
    visualiser the metainfo of the classification test set, whose slice
    classes are not instance names. The caption goes on the prediction
    panel only, wrapped to its width.

    Scalars (the validation metrics LoggerHook records) reach the backends
    with NaN and infinities as None, so that ``scalars.json`` is strict JSON
    (``null`` for an undefined metric such as the sensitivity of a class
    absent from the split).

    Args:
        classes (tuple[str]): Slice class names, in the index order of
            ``pred_score``. Defaults to the classification dataset's,
            ``COVIDX_CLASSES``.
        lesion_classes (tuple[str]): Instance class names. Defaults to
            ``('lesion', )``.
        **kwargs: :class:`DetLocalVisualizer` arguments.
    """

    def __init__(self, name: str = 'visualizer', classes=COVIDX_CLASSES,
                 lesion_classes=('lesion', ), **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.slice_classes = tuple(classes)
        self.lesion_classes = list(lesion_classes)
        self._caption: Optional[str] = None

    def add_scalars(self, scalar_dict: dict, step: int = 0, file_path: Optional[str] = None,
                    **kwargs) -> None:
        """See :meth:`mmengine.visualization.Visualizer.add_scalars`."""
        super().add_scalars(strict_json(scalar_dict), step, file_path, **kwargs)

    def caption(self, data_sample: DetDataSample) -> Optional[str]:
        """``'COVID-19 0.93 (Normal 0.02, CP 0.05) | gt CP'`` or None."""
        if 'pred_score' not in data_sample:
            return None
        scores = data_sample.pred_score.detach().cpu().float().tolist()
        best = int(np.argmax(scores))
        others = ', '.join(f'{name} {s:.2f}' for i, (name, s) in
                           enumerate(zip(self.slice_classes, scores)) if i != best)
        text = f'{self.slice_classes[best]} {scores[best]:.2f} ({others})'
        if 'gt_label' in data_sample:
            text += f' | gt {self.slice_classes[int(data_sample.gt_label.view(-1)[0])]}'
        return text

    def add_datasample(self, name: str, image: np.ndarray,
                       data_sample: Optional[DetDataSample] = None, *args, **kwargs) -> None:
        """See :meth:`DetLocalVisualizer.add_datasample`."""
        self._caption = self.caption(data_sample) if data_sample is not None else None
        try:
            super().add_datasample(name, image, data_sample, *args, **kwargs)
        finally:
            self._caption = None

    def _draw_instances(self, image: np.ndarray, instances, classes, palette) -> np.ndarray:
        drawn = super()._draw_instances(image, instances, self.lesion_classes, palette)
        if self._caption is not None and 'scores' in instances:  # the prediction panel
            drawn = self.draw_caption(drawn, self._caption)
        return drawn

    def draw_caption(self, image: np.ndarray, text: str) -> np.ndarray:
        """``text`` at the top left of ``image``, wrapped to its width."""
        height, width = image.shape[:2]
        font_size = max(8, int(min(height, width) * 0.028))
        # matplotlib's default font: a character is about 0.6 em wide
        chars = max(8, int((width - 8) / (0.6 * font_size * self.dpi / 72 * 1.05)))
        self.set_image(image)
        self.draw_texts('\n'.join(textwrap.wrap(text, chars)), np.array([[4, 4]]),
                        colors='white', font_sizes=font_size,
                        bboxes=dict(facecolor='black', alpha=0.6, pad=2, edgecolor='none'))
        return self.get_image()
