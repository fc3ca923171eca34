"""Inference on CT slices of any published format, in batches."""
import os.path as osp
from typing import Iterator, List, Sequence, Union

import torch
from mmcv.transforms import Compose
from mmengine.dataset import pseudo_collate
from mmdet.structures import DetDataSample
from torch import nn

from ..datasets.ct_io import is_nifti, nifti_slice_infos


def expand_sources(sources: Sequence[str]) -> List[dict]:
    """One ``{'img_path', ['slice_index']}`` dict per slice.

    PNG/JPEG/DICOM files are one slice each; a NIfTI volume gives all its
    axial slices; a folder gives its files in sorted order.
    """
    import os

    slices: List[dict] = []
    for source in sources:
        if osp.isdir(source):
            files = sorted(osp.join(source, f) for f in os.listdir(source)
                           if not f.startswith('.'))
            slices.extend(expand_sources(files))
        elif not osp.exists(source):
            raise FileNotFoundError(f'input {source!r} does not exist')
        elif is_nifti(source):
            slices.extend(nifti_slice_infos(source))
        else:
            slices.append(dict(img_path=source))
    return slices


def _test_pipeline(model: nn.Module) -> Compose:
    """The classification test pipeline of the model's config (every input
    is a whole slice: load, resize, pack)."""
    cfg = model.cfg
    pipeline = cfg.test_dataloader.dataset.pipeline
    return Compose([t for t in pipeline if t['type'] != 'BodyCrop'])


@torch.no_grad()
def inference_ct_slices(model: nn.Module, sources: Union[str, Sequence[str]],
                        batch_size: int = 4) -> Iterator[DetDataSample]:
    """Lesion instances and slice class of every slice of ``sources``.

    Args:
        model (nn.Module): An SSM from :func:`mmdet.apis.init_detector`.
        sources (str or list[str]): Image files (PNG/JPEG/16-bit PNG/DICOM),
            NIfTI volumes (read slice by slice) or folders of them.
        batch_size (int): Slices per forward pass.

    Yields:
        DetDataSample: per slice, with ``pred_instances`` (in the slice's
        original resolution), ``pred_score``, ``pred_label`` and the
        ``img_path`` (and ``slice_index`` for volumes) it came from.
    """
    if isinstance(sources, str):
        sources = [sources]
    pipeline = _test_pipeline(model)
    slices = expand_sources(sources)
    for start in range(0, len(slices), batch_size):
        batch = [pipeline(dict(info, img_id=start + i))
                 for i, info in enumerate(slices[start:start + batch_size])]
        for info, sample in zip(slices[start:start + batch_size],
                                model.test_step(pseudo_collate(batch))):
            if 'slice_index' in info:
                sample.set_metainfo(dict(slice_index=info['slice_index']))
            yield sample
