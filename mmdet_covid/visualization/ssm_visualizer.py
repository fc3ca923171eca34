"""DetLocalVisualizer that also shows the slice class predicted by the SSM."""
from typing import Optional

import numpy as np
from mmdet.registry import VISUALIZERS
from mmdet.structures import DetDataSample
from mmdet.visualization import DetLocalVisualizer


@VISUALIZERS.register_module()
class SSMVisualizer(DetLocalVisualizer):
    """Draws lesion instances like :class:`DetLocalVisualizer`, and captions
    the image with the predicted class and its probabilities (and the ground
    truth class when the sample has one).

    Args:
        classes (tuple[str]): Slice class names, in the index order of
            ``pred_score``. Defaults to ``('Normal', 'CP', 'COVID-19')``.
        **kwargs: :class:`DetLocalVisualizer` arguments.
    """

    def __init__(self, name: str = 'visualizer', classes=('Normal', 'CP', 'COVID-19'),
                 **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.slice_classes = tuple(classes)

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
        """See :meth:`DetLocalVisualizer.add_datasample`; the image is
        captioned first, then the instances are drawn as usual."""
        text = self.caption(data_sample) if data_sample is not None else None
        if text is not None:
            self.set_image(image)
            height, width = image.shape[:2]
            self.draw_texts(text, np.array([[4, 4]]), colors='white',
                            font_sizes=max(8, int(min(height, width) * 0.028)),
                            bboxes=dict(facecolor='black', alpha=0.6, pad=2,
                                        edgecolor='none'))
            image = self.get_image()
        super().add_datasample(name, image, data_sample, *args, **kwargs)
