"""ModelGrid: slices to the model's pixel size and canvas, masks back to the input."""
import numpy as np
import pytest

from mmdet_covid.scan.model_grid import ModelGrid, model_input_size


def test_the_input_size_of_an_inference_pipeline():
    steps = [dict(type='CTInferencerLoader'), dict(type='Resize', scale=(512, 384),
                                                    keep_ratio=False)]
    assert model_input_size(steps) == (512, 384)
    assert model_input_size([dict(type='Resize', scale=(512, 512), keep_ratio=True)]) is None


def test_same_pixel_size_and_canvas_is_the_identity():
    grid = ModelGrid.build((64, 64), (0.7, 0.7), 0.7, (64, 64))
    hu = np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32)
    assert grid.identity and grid.to_model(hu) is hu
    masks = np.ones((2, 64, 64), bool)
    assert grid.to_input(masks) is masks


def test_finer_pixels_are_shrunk_and_masks_come_back_on_the_input_pixels():
    # 256 px of 0.5 mm (128 mm) on a model of 1 mm pixels and a 128x128 canvas
    grid = ModelGrid.build((256, 256), (0.5, 0.5), 1.0, (128, 128))
    assert not grid.identity and grid.resampled == (128, 128) and grid.offset == (0, 0)
    hu = np.full((256, 256), -1000, np.float32)
    hu[64:192, 64:192] = 40
    canvas = grid.to_model(hu)
    assert canvas.shape == (128, 128) and canvas[64, 64] == pytest.approx(40)
    disc = (np.hypot(*np.mgrid[-64:64, -64:64]) < 30)[None]
    back = grid.to_input(disc)
    truth = np.hypot(*np.mgrid[-128:128, -128:128]) < 60
    assert back.shape == (1, 256, 256) and (back[0] ^ truth).sum() < 0.03 * truth.sum()


def test_a_small_field_of_view_is_padded_with_air_a_wide_one_cropped_around_the_body():
    grid = ModelGrid.build((100, 100), (1.0, 1.0), 1.0, (128, 128))
    assert grid.offset == (-14, -14) and grid.outside_mm((0, 0, 100, 100), (1.0, 1.0)) == 0
    canvas = grid.to_model(np.zeros((100, 100), np.float32))
    assert canvas[0, 0] == -1024 and canvas[14, 14] == 0 and canvas[113, 113] == 0
    assert canvas[114, 114] == -1024
    # 200 px of 1 mm, body on the right: the 128 px canvas is centred on it
    body = (50, 100, 150, 200)
    wide = ModelGrid.build((200, 200), (1.0, 1.0), 1.0, (128, 128), body_box=body)
    assert wide.offset == (36, 72) and wide.outside_mm((0, 0, 200, 200), (1.0, 1.0)) == 72
    assert wide.outside_mm(body, (1.0, 1.0)) == 0  # the body is seen whole
    mask = np.zeros((1, 128, 128), bool)
    mask[0, 10, 20] = True
    back = wide.to_input(mask)
    assert back.shape == (1, 200, 200) and back[0, 46, 92] and back.sum() == 1
