"""Fixtures of the data-tool tests (the tools are loaded by ``tests.conftest.load_tool``)."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest


@pytest.fixture
def write_slice():
    """Write ``image/<stem>.<ext>`` and ``mask/<stem>.png`` under a root folder."""

    def write(root, stem: str, mask: np.ndarray, image: np.ndarray = None, ext: str = '.png'):
        img_path = osp.join(str(root), 'image', stem + ext)
        mask_path = osp.join(str(root), 'mask', stem + '.png')
        for path, arr in ((img_path, image if image is not None else
                           np.full(mask.shape, 80, np.uint8)), (mask_path, mask)):
            if arr is None:
                continue
            os.makedirs(osp.dirname(path), exist_ok=True)
            assert cv2.imwrite(path, arr)
        return img_path, mask_path

    return write


@pytest.fixture(scope='session')
def tiny_phantom(tmp_path_factory):
    """A small phantom (128x128) written by the generator, shared by the tool tests."""
    from mmdet_covid.datasets.phantom import generate

    out = str(tmp_path_factory.mktemp('phantom'))
    summary = generate(out, n_seg=10, n_cls=18, size=128, seed=7, workers=1,
                       frames_per_scan=5)
    return out, summary
