"""SSMInferencer (mmdet's DetInferencer API on SSM configs) and inference_detector on
the arrays a CT user has: 2-D grey slices and int16 Hounsfield units."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmdet.apis import DetInferencer, inference_detector, init_detector

from mmdet_covid.apis import SSMInferencer
from mmdet_covid.io.ct_io import apply_window


@pytest.fixture(scope='module')
def hu_slice():
    """A 64x64 slice in HU: air around a soft-tissue disc."""
    yy, xx = np.mgrid[:64, :64]
    return np.where((yy - 32) ** 2 + (xx - 32) ** 2 < 20 ** 2, 40, -1000).astype(np.int16)


def test_stock_det_inferencer_cannot_read_ct_pipelines(model_files):
    config, checkpoint = model_files
    with pytest.raises(ValueError, match='LoadImageFromFile is not found'):
        DetInferencer(model=config, weights=checkpoint, device='cpu', show_progress=False)


def test_ssm_inferencer_paths_folders_and_arrays(model_files, hu_slice, tmp_path):
    config, checkpoint = model_files
    grey = apply_window(hu_slice)
    folder = tmp_path / 'slices'
    folder.mkdir()
    cv2.imwrite(str(folder / 'a.png'), grey)
    cv2.imwrite(str(folder / 'b16.png'), (hu_slice.astype(np.int32) + 32768).astype(np.uint16))
    (folder / 'notes.txt').write_text('not a slice')
    inferencer = SSMInferencer(model=config, weights=checkpoint, device='cpu',
                               show_progress=False)
    out = inferencer(str(folder), out_dir=str(tmp_path / 'out'), no_save_pred=False)
    preds = out['predictions']
    assert len(preds) == 2  # the text file is not a slice
    classes = ['Normal', 'CP', 'COVID-19']
    for pred in preds:
        assert pred['slice_classes'] == classes
        assert len(pred['slice_scores']) == 3 and sum(pred['slice_scores']) == pytest.approx(1)
        assert pred['slice_class'] == classes[int(np.argmax(pred['slice_scores']))]
        assert {'labels', 'scores', 'bboxes'} <= set(pred)
    # the 16-bit PNG (HU + 32768) and the 8-bit one windowed from the same HU: one slice
    assert preds[0]['slice_scores'] == pytest.approx(preds[1]['slice_scores'], abs=1e-4)
    saved = json.loads((tmp_path / 'out' / 'preds' / 'a.json').read_text())
    assert saved['slice_class'] == preds[0]['slice_class']
    assert sorted(os.listdir(tmp_path / 'out' / 'vis')) == ['a.png', 'b16.png']
    # arrays: int16 HU and the 2-D grey slice give the same as the file
    for array in (hu_slice, grey, np.repeat(grey[..., None], 3, axis=2)):
        [pred] = inferencer(array)['predictions']
        assert pred['slice_scores'] == pytest.approx(preds[0]['slice_scores'], abs=1e-4)


def test_inference_detector_on_2d_grey_and_int16_hu_arrays(model_files, hu_slice):
    config, checkpoint = model_files
    model = init_detector(config, checkpoint, device='cpu')
    grey = apply_window(hu_slice)
    reference = inference_detector(model, np.repeat(grey[..., None], 3, axis=2))
    for array in (grey, hu_slice, hu_slice.astype(np.float32)):
        result = inference_detector(model, array)
        assert result.ori_shape == (64, 64)
        torch.testing.assert_close(result.pred_score, reference.pred_score)


def test_each_prediction_says_what_the_model_was_not_validated_for(trained, prepared_phantom):
    from mmdet_covid.utils.provenance import read_training_data, training_notices

    config, checkpoint = trained
    folder = osp.join(prepared_phantom, 'cls', 'test')
    image = osp.join(folder, sorted(os.listdir(folder))[0])
    inferencer = SSMInferencer(model=config, weights=checkpoint, device='cpu')
    notices = training_notices(read_training_data(checkpoint))
    assert len(notices) == 2 and inferencer.notices == notices
    result = inferencer(image, return_vis=False)
    assert result['predictions'][0]['validation_notices'] == notices


@pytest.fixture(scope='module')
def semiseg_files(tmp_path_factory):
    """(config, checkpoint) of an untrained SSM with the COVID-SemiSeg config, whose
    slices are 8-bit and already windowed (``ct_window`` in the config)."""
    from mmengine.config import Config

    from tests.conftest import CONFIG_DIR, save_untrained

    root = tmp_path_factory.mktemp('semiseg_model')
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'covid_semiseg',
                                   'ssm_r18-b3-aug_seg_covid-semiseg.py'))
    return save_untrained(cfg, root, 'semiseg')


def test_a_lesion_set_model_reads_grey_slices_and_hu_through_its_window(semiseg_files,
                                                                        hu_slice):
    """inference_detector takes the windowed 8-bit slices the model was trained on;
    SSMInferencer maps HU to the same grey levels through the config's ct_window."""
    config, checkpoint = semiseg_files
    grey = apply_window(hu_slice, level=-420.0, width=1320.0)
    model = init_detector(config, checkpoint, device='cpu')
    by_detector = inference_detector(model, grey)
    assert by_detector.ori_shape == (64, 64)
    inferencer = SSMInferencer(model=config, weights=checkpoint, device='cpu',
                               show_progress=False)
    [from_grey] = inferencer(grey)['predictions']
    [from_hu] = inferencer(hu_slice)['predictions']
    assert from_hu['slice_scores'] == pytest.approx(from_grey['slice_scores'], abs=1e-4)
    assert from_grey['slice_scores'] == pytest.approx(
        by_detector.pred_score.tolist(), abs=1e-4)
    # the default lung window would give other grey levels, hence another answer
    [default_window] = inferencer(apply_window(hu_slice))['predictions']
    assert default_window['slice_scores'] != pytest.approx(from_hu['slice_scores'], abs=1e-6)
