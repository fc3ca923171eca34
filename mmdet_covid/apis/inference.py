"""Inference on CT slices of any published format, in batches."""
import copy
import os
import os.path as osp
import warnings
from typing import Iterator, List, Optional, Sequence, Tuple, Union

from mmcv.transforms import Compose
from mmdet.structures import DetDataSample
from torch import nn

from ..engine.runner.ssm_runner import apply_dataset_settings
from ..io.ct_io import CTInputWarning, CTReadError, is_nifti, nifti_slice_infos
from ..utils import check_checkpoint_matches
from ..utils.provenance import read_training_data
from .batch_inference import batch_predictions

# What reading one input can raise: a named read error, a missing or
# unreadable file, an undecodable or malformed image.
READ_ERRORS = (CTReadError, OSError, ValueError, IndexError)


def init_ssm(config, checkpoint: str, device: str = 'cpu',
             cfg_options: Optional[dict] = None) -> nn.Module:
    """:func:`mmdet.apis.init_detector` that refuses a checkpoint which does
    not fit the config.

    ``init_detector`` loads non-strictly: weights of another variant (e.g.
    ResNet34 for a ResNet18 config) load with a log warning and leave the
    rest of the model random. Here that raises
    :class:`~mmdet_covid.utils.CheckpointMismatchError` naming the missing,
    unexpected and reshaped keys.

    The model's ``training_data`` attribute holds what the checkpoint records of
    its training data (:func:`~mmdet_covid.utils.provenance.read_training_data`;
    None when it records nothing), for the outputs to say.
    """
    from mmdet.apis import init_detector

    model = init_detector(config, checkpoint, device=device, cfg_options=cfg_options)
    check_checkpoint_matches(model, checkpoint)
    model.training_data = read_training_data(checkpoint)
    return model


def _name(root: str, path: str) -> str:
    """``path`` as the user can trace it: relative to the folder argument
    ``root`` it was found in (prefixed with that folder's name), or as given."""
    if root == path:
        return path
    return osp.join(osp.basename(osp.normpath(root)), osp.relpath(path, root))


def expand_sources(sources: Sequence[str], errors: Optional[List[dict]] = None) -> List[dict]:
    """One ``{'img_path', 'name', ['slice_index']}`` dict per slice.

    PNG/JPEG/DICOM files are one slice each; a NIfTI volume gives all its
    axial slices; a folder gives its files (recursively) in sorted order.
    ``name`` is the slice's input path relative to the folder argument it
    came from (``folder/sub/file.png``), so that equal file names in
    different folders stay apart.

    Args:
        sources (Sequence[str]): Files and folders.
        errors (list, optional): If given, an input that does not exist or a
            volume whose header cannot be read is appended to it as
            ``{'img_path', 'name', 'reason'}`` instead of raising.
    """
    slices: List[dict] = []

    def add(root: str, path: str) -> None:
        name = _name(root, path)
        try:
            if not osp.exists(path):
                raise FileNotFoundError(f'input {path!r} does not exist')
            if is_nifti(path):
                slices.extend(dict(info, name=name) for info in nifti_slice_infos(path))
            else:
                slices.append(dict(img_path=path, name=name))
        except READ_ERRORS as exc:
            if errors is None:
                raise
            errors.append(dict(img_path=path, name=name, reason=str(exc)))

    for source in sources:
        if osp.isdir(source):
            for dirpath, dirnames, files in os.walk(source):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
                for f in sorted(files):
                    if not f.startswith('.'):
                        add(source, osp.join(dirpath, f))
        else:
            add(source, source)
    return slices


def inference_steps(cfg, load_options: Optional[dict] = None,
                    loader: Union[str, type] = 'LoadCTSlice') -> List[dict]:
    """The test pipeline of a config as inference needs it: every input is a whole
    slice without annotations (no ``BodyCrop``: no body box is given; no
    ``LoadAnnotations``, which a lesion set's test pipeline has), its ``LoadCTSlice``
    step of type ``loader`` with the config's ``ct_window`` (the display window that
    maps HU to the grey levels the model was trained on, where the config names one)
    and then ``load_options`` set, its ``Resize`` at the config's ``seg_img_scale`` /
    ``cls_img_scale`` where it sets them (as :class:`~mmdet_covid.engine.runner.SSMRunner`
    trains and tests: a config that inherits a pipeline and changes only the image size
    is read at that size)."""
    cfg = copy.deepcopy(cfg)
    apply_dataset_settings(cfg, check_roots=False)
    window = dict(cfg.get('ct_window') or {})
    steps = []
    for step in cfg.test_dataloader.dataset.pipeline:
        if step['type'] in ('BodyCrop', 'LoadAnnotations'):
            continue
        if step['type'] == 'LoadCTSlice':
            step = dict(step, type=loader, **{**window, **(load_options or {})})
        steps.append(dict(step))  # copies: the caller may change them, not the config
    return steps


def _load(pipeline: Compose, info: dict) -> tuple:
    """Run the pipeline on one slice; also return the CTInputWarning
    messages it raised (the warnings are issued again for the caller)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', CTInputWarning)
        data = pipeline(info)
    messages = []
    for w in caught:
        if issubclass(w.category, CTInputWarning):
            messages.append(str(w.message))
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return data, messages


def inference_ct_slices(model: nn.Module, sources: Union[str, Sequence[str]],
                        batch_size: int = 4,
                        errors: Optional[List[dict]] = None,
                        load_options: Optional[dict] = None) -> Iterator[DetDataSample]:
    """Lesion instances and slice class of every slice of ``sources``.

    Args:
        model (nn.Module): An SSM from :func:`init_ssm`.
        sources (str or list[str]): Image files (PNG/JPEG/16-bit PNG/DICOM),
            NIfTI volumes (read slice by slice) or folders of them.
        batch_size (int): Slices per forward pass.
        errors (list, optional): Without it, the first unreadable input
            raises. With it, every unreadable input or slice is appended as
            ``{'img_path', 'name', ['slice_index'], 'reason'}`` and the
            others are still processed.
        load_options (dict, optional): Arguments of the pipeline's
            ``LoadCTSlice`` to change, e.g. ``dict(hu_offset_16bit=1024)``
            or ``dict(allow_non_ct=True)``.

    Yields:
        DetDataSample: per readable slice, in input order, with
        ``pred_instances`` (in the slice's original resolution),
        ``pred_score``, ``pred_label``, the ``img_path`` and ``name`` it came
        from (and ``slice_index`` for volumes) and ``input_warnings``: what
        looked wrong in the input (:class:`CTInputWarning` messages, e.g. a
        16-bit offset that gives implausible HU, NaN voxels; also issued as
        warnings).
    """
    if isinstance(sources, str):
        sources = [sources]
    pipeline = Compose(inference_steps(model.cfg, load_options))
    slices = expand_sources(sources, errors)
    notes = {}  # the CTInputWarning messages of each slice index read

    def prepare(indexed: Tuple[int, dict]) -> Optional[dict]:
        index, info = indexed
        try:
            data, notes[index] = _load(pipeline, dict(info, img_id=index))
        except READ_ERRORS as exc:
            if errors is None:
                raise
            errors.append(dict(info, reason=str(exc)))
            return None
        return data

    for (index, info), sample in batch_predictions(model, enumerate(slices), batch_size,
                                                   prepare):
        meta = dict(name=info['name'], input_warnings=notes.pop(index))
        if 'slice_index' in info:
            meta['slice_index'] = info['slice_index']
        sample.set_metainfo(meta)
        yield sample
