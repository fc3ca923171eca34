import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmdet_covid.visualization import SSMVisualizer


def _sample(with_gt=True):
    sample = DetDataSample()
    boxes = torch.tensor([[40., 40., 120., 120.]])
    masks = torch.zeros(1, 256, 256, dtype=torch.bool)
    masks[0, 40:120, 40:120] = True
    sample.pred_instances = InstanceData(bboxes=boxes, labels=torch.tensor([0]),
                                         scores=torch.tensor([0.9]), masks=masks)
    if with_gt:
        sample.gt_instances = InstanceData(bboxes=boxes, labels=torch.tensor([0]),
                                           masks=masks.numpy())
    sample.pred_score = torch.tensor([0.1, 0.2, 0.7])
    sample.gt_label = torch.tensor([1])
    return sample


def _visualizer(drawn_texts):
    vis = SSMVisualizer(name=f'vis{len(drawn_texts)}_{np.random.randint(1e9)}')
    # the runner hands over the classification set's metainfo (slice classes)
    vis.dataset_meta = dict(classes=('Normal', 'CP', 'COVID-19'))
    original = vis.draw_texts

    def record(texts, *args, **kwargs):
        drawn_texts.append(texts if isinstance(texts, str) else list(texts))
        return original(texts, *args, **kwargs)

    vis.draw_texts = record
    return vis


def test_instances_named_lesion_and_caption_only_on_prediction_panel():
    texts = []
    vis = _visualizer(texts)
    image = np.full((256, 256, 3), 60, np.uint8)
    vis.add_datasample('slice', image, _sample(), draw_gt=True, out_file=None)
    flat = [t for group in texts for t in ([group] if isinstance(group, str) else group)]
    captions = [t for t in flat if 'COVID-19 0.70' in t.replace('\n', ' ')]
    assert len(captions) == 1  # not on the ground-truth panel
    instance_labels = [t for t in flat if t not in captions]
    assert instance_labels and all(t.startswith('lesion') for t in instance_labels)
    assert not any('Normal' in t for t in instance_labels)
    # two panels side by side; the caption's dark box only on the right one
    drawn = vis.get_image()
    assert drawn.shape[1] == 512
    assert (drawn[6:12, 6:30] == 60).all()  # ground truth panel, top left
    assert (drawn[4:14, 256 + 6:256 + 30] < 40).mean() > 0.5  # prediction panel


def test_caption_wraps_to_a_narrow_panel():
    texts = []
    vis = _visualizer(texts)
    vis.draw_caption(np.zeros((256, 256, 3), np.uint8),
                     'COVID-19 0.70 (Normal 0.10, CP 0.20) | gt CP')
    assert '\n' in texts[-1]
    vis.draw_caption(np.zeros((1024, 1024, 3), np.uint8), 'COVID-19 0.70 (Normal 0.10)')
    assert '\n' not in texts[-1]
