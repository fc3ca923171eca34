"""batch_predictions: items in groups of the batch size, each with its prediction, in
order, skipped ones left out; and inference_ct_slices over it (a stand-in model on the
real test pipeline of an SSM config)."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmdet_covid.apis import batch_predictions, inference_ct_slices
from mmdet_covid.apis.inference import READ_ERRORS
from tests.conftest import CONFIG_DIR


class _Model:
    """Returns the packed data samples, each with the number of its batch; records the
    size of every batch and whether gradients were off."""

    def __init__(self, cfg=None) -> None:
        self.cfg = cfg
        self.batches, self.grad = [], []

    def test_step(self, data):
        self.batches.append(len(data['inputs']))
        self.grad.append(torch.is_grad_enabled())
        for sample in data['data_samples']:
            sample.set_metainfo(dict(batch=len(self.batches)))
            sample.pred_score = torch.tensor([0.2, 0.3, 0.5])
        return data['data_samples']


def _packed(item) -> dict:
    from mmdet.structures import DetDataSample

    return dict(inputs=torch.zeros(3, 4, 4), data_samples=DetDataSample(metainfo=dict(item=item)))


def test_items_come_back_in_order_with_their_own_prediction_and_skips_are_left_out():
    model, taken = _Model(), []

    def items():
        for i in range(8):
            taken.append(i)
            yield i

    prepared = []

    def prepare(item):
        prepared.append(item)
        return None if item in (4, 6, 7) else _packed(item)

    out = batch_predictions(model, items(), 3, prepare)
    first = next(out)
    assert taken == [0, 1, 2] and prepared == [0, 1, 2]  # one group read, not the rest
    pairs = [first, *out]
    assert [item for item, _ in pairs] == [0, 1, 2, 3, 5]
    assert all(sample.item == item for item, sample in pairs)
    assert [sample.batch for _, sample in pairs] == [1, 1, 1, 2, 2]
    # groups of 3 items: [0 1 2], [3 4 5] less the skipped 4, [6 7] all skipped: no forward
    assert model.batches == [3, 2] and model.grad == [False, False]
    assert list(batch_predictions(model, [], 3, prepare)) == []


def test_a_batch_size_below_one_is_refused():
    with pytest.raises(ValueError, match='batch_size 0: expected at least 1'):
        next(batch_predictions(_Model(), [1], 0, _packed))


def test_inference_ct_slices_names_each_slice_and_records_what_it_cannot_read(tmp_path):
    folder = tmp_path / 'slices'
    folder.mkdir()
    for name in ('a', 'c', 'd'):
        assert cv2.imwrite(str(folder / f'{name}.png'), np.full((32, 32), 90, np.uint8))
    (folder / 'b.png').write_bytes(b'not a png')
    missing = str(tmp_path / 'missing.png')
    model = _Model(Config.fromfile(osp.join(CONFIG_DIR, 'ssm', 'ssm_r18-b3-aug_demo_phantom.py')))
    errors, seen = [], []
    for sample in inference_ct_slices(model, [str(folder), missing], batch_size=2,
                                      errors=errors):
        seen.append((sample.name, osp.basename(sample.img_path), sample.batch, len(errors)))
        assert sample.input_warnings == [] and 'slice_index' not in sample
    # b.png is unreadable: a's batch is a alone, and b's error is known before a is given
    assert seen == [('slices/a.png', 'a.png', 1, 2), ('slices/c.png', 'c.png', 2, 2),
                    ('slices/d.png', 'd.png', 2, 2)]
    assert [(osp.basename(e['img_path']), e.get('name')) for e in errors] == [
        ('missing.png', missing), ('b.png', 'slices/b.png')]
    assert model.batches == [1, 2]
    with pytest.raises(READ_ERRORS):  # without an error list, the first unreadable raises
        list(inference_ct_slices(model, [str(folder / 'b.png')], batch_size=2))
