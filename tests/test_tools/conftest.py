"""Fixtures of the data-tool tests: the tools are scripts, imported from their folders."""
import os
import os.path as osp
import sys

import cv2
import numpy as np
import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
for folder in ('tools', osp.join('tools', 'dataset_converters')):
    path = osp.join(REPO, folder)
    if path not in sys.path:
        sys.path.insert(0, path)


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
    import make_phantom_data

    out = str(tmp_path_factory.mktemp('phantom'))
    summary = make_phantom_data.generate(out, n_seg=10, n_cls=18, size=128, seed=7,
                                         workers=1, frames_per_scan=5)
    return out, summary
