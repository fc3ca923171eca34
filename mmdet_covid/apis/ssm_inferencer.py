"""SSMInferencer: mmdet's DetInferencer for the SSM and CT inputs."""
import logging
import os
import os.path as osp
from typing import Dict, List, Optional

import mmengine
import numpy as np
from mmcv.transforms import Compose
from mmdet.apis import DetInferencer
from mmengine.config import ConfigDict
from mmengine.logging import print_log

from ..datasets.transforms import CTInferencerLoader
from ..io.ct_io import DICOM_SUFFIXES, is_nifti
from ..utils.provenance import training_data_of, training_notices
from .inference import inference_steps

SLICE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff') + DICOM_SUFFIXES


class SSMInferencer(DetInferencer):
    """:class:`~mmdet.apis.DetInferencer` (same calls, same outputs) for SSM configs.

    ``DetInferencer`` expects ``LoadImageFromFile`` in the test pipeline; the SSM
    reads every CT format with ``LoadCTSlice``. Here:

    - inputs: paths of PNG/JPEG (8- or 16-bit) and DICOM slices, folders of them,
      or arrays (uint8 grey or BGR as stored; int16/float arrays as HU; uint16 as
      HU + offset), read by :class:`CTInferencerLoader`; NIfTI volumes go to
      :func:`~mmdet_covid.apis.inference_ct_slices`;
    - each prediction dict (and ``--pred-out-dir`` JSON) also carries the slice
      class: ``slice_scores`` (one probability per class), ``slice_label`` and
      ``slice_class``; the instances are the lesions (``labels`` 0 = lesion); and
      ``validation_notices``: what the checkpoint's training data leaves unvalidated
      on real CT (:func:`~mmdet_covid.utils.provenance.training_notices`; also
      logged when the inferencer is built, and held in ``training_data``);
    - drawings show the slice as the model saw it (lung window for HU data) and
      the class caption of :class:`~mmdet_covid.visualization.SSMVisualizer`.

    Example::

        from mmdet_covid.apis import SSMInferencer
        inferencer = SSMInferencer(model=CONFIG, weights=CHECKPOINT, device='cpu')
        out = inferencer('slices/', out_dir='outputs/')
        out['predictions'][0]['slice_class']  # 'COVID-19'
    """

    def __init__(self, *args, load_options: Optional[dict] = None, **kwargs) -> None:
        self.load_options = dict(load_options or {})
        super().__init__(*args, **kwargs)
        self.training_data = getattr(self.model, 'training_data', None)
        self.notices = training_notices(self.training_data)
        for notice in self.notices:
            print_log(f'NOT VALIDATED: {notice}', logger='current', level=logging.WARNING)
        self.model.dataset_meta = dict(self.model.dataset_meta or {}, classes=('lesion', ))
        if self.visualizer is not None:
            self.visualizer.dataset_meta = self.model.dataset_meta

    def _load_weights_to_model(self, model, checkpoint: Optional[dict], cfg) -> None:
        """:meth:`DetInferencer._load_weights_to_model`, and the checkpoint's training
        data kept in ``model.training_data`` (as :func:`~mmdet_covid.apis.init_ssm`
        does), from the checkpoint already loaded."""
        super()._load_weights_to_model(model, checkpoint, cfg)
        model.training_data = training_data_of((checkpoint or {}).get('meta'))

    def _init_pipeline(self, cfg: ConfigDict) -> Compose:
        """The classification test pipeline (whole slices), its loader swapped for
        :class:`CTInferencerLoader` and without ``BodyCrop`` (no body box given)."""
        steps = inference_steps(cfg, self.load_options, loader=CTInferencerLoader)
        for step in steps:
            if 'meta_keys' in step:  # no img_id at inference
                step['meta_keys'] = tuple(k for k in step['meta_keys'] if k != 'img_id')
        if not any(s['type'] is CTInferencerLoader for s in steps):
            raise ValueError('SSMInferencer: no LoadCTSlice step in the config\'s '
                             'test_dataloader pipeline; expected an SSM config')
        return Compose(steps)

    def _inputs_to_list(self, inputs) -> list:
        """A folder gives its slice files (sorted; NIfTI volumes are refused by
        the loader); anything else as :class:`DetInferencer` takes it."""
        if isinstance(inputs, str) and osp.isdir(inputs):
            return [osp.join(inputs, f) for f in sorted(os.listdir(inputs))
                    if f.lower().endswith(SLICE_SUFFIXES) or is_nifti(f)]
        return super()._inputs_to_list(inputs)

    def visualize(self, inputs: list, preds: list, return_vis: bool = False,
                  show: bool = False, wait_time: int = 0, draw_pred: bool = True,
                  pred_score_thr: float = 0.3, no_save_vis: bool = False,
                  img_out_dir: str = '', **kwargs) -> Optional[List[np.ndarray]]:
        """As :meth:`DetInferencer.visualize`; the image drawn on is the slice
        as the model saw it (any CT format, windowed)."""
        if no_save_vis:
            img_out_dir = ''
        if not show and img_out_dir == '' and not return_vis:
            return None
        if self.visualizer is None:
            raise ValueError('Visualization needs the "visualizer" term defined in the '
                             'config, but got None.')
        loader = self.pipeline.transforms[0]
        results = []
        for single_input, pred in zip(inputs, preds):
            img = loader(single_input)['img'][..., ::-1]  # BGR -> RGB
            if isinstance(single_input, str):
                img_name = osp.basename(single_input)
            else:
                img_name = f'{str(self.num_visualized_imgs).zfill(8)}.jpg'
            out_file = osp.join(img_out_dir, 'vis', img_name) if img_out_dir else None
            self.visualizer.add_datasample(
                img_name, img, pred, show=show, wait_time=wait_time, draw_gt=False,
                draw_pred=draw_pred, pred_score_thr=pred_score_thr, out_file=out_file)
            results.append(self.visualizer.get_image())
            self.num_visualized_imgs += 1
        return results

    def pred2dict(self, data_sample, pred_out_dir: str = '') -> Dict:
        """:meth:`DetInferencer.pred2dict` plus the slice class (class docstring)."""
        result = super().pred2dict(data_sample, '')
        classes = self.model.classifier.classes
        scores = data_sample.pred_score.detach().cpu().float().tolist()
        label = int(np.argmax(scores))
        result.update(slice_scores=scores, slice_label=label, slice_class=classes[label],
                      slice_classes=list(classes), validation_notices=list(self.notices))
        if pred_out_dir:
            if 'img_path' in data_sample:
                stem = osp.splitext(osp.basename(data_sample.img_path))[0]
            else:
                stem = str(self.num_predicted_imgs)
                self.num_predicted_imgs += 1
            mmengine.dump(result, osp.join(pred_out_dir, 'preds', stem + '.json'))
        return result
