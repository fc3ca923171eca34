"""CTSliceClsDataset: CT slices with an image-level class (COVIDx-CT)."""
from typing import List

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.fileio import load

from mmdet.registry import DATASETS

# COVIDx-CT's slice classes in label order (0, 1, 2). Defined here, once: the dataset's
# METAINFO, and the default of every model, metric and visualiser that names slice classes.
COVIDX_CLASSES = ('Normal', 'CP', 'COVID-19')


@DATASETS.register_module()
class CTSliceClsDataset(BaseDataset):
    """Slices labelled Normal (0), common pneumonia (1) or COVID-19 (2).

    The annotation file is written by ``tools/dataset_converters/covidx_ct.py`` in
    mmengine's format::

        {"metainfo": {"classes": ["Normal", "CP", "COVID-19"], ...},
         "data_list": [{"img_path": "train/NCP_96_1328_0032.png", "gt_label": 2,
                        "patient_id": "NCP_96", "body_bbox": [x1, y1, x2, y2],
                        "crop_bbox": [x1, y1, x2, y2]},   # only with --crop-body
                       ...]}

    ``img_path`` is relative to ``data_root`` + ``data_prefix['img_path']``. The class
    order of the file must equal the dataset's: a model trained with another order
    would predict the wrong names silently.

    Arguments are those of :class:`mmengine.dataset.BaseDataset`; ``data_prefix`` is
    ``dict(img_path=...)``, the folder ``img_path`` is relative to.
    """

    METAINFO = {
        'classes': COVIDX_CLASSES,
        'palette': [(0, 160, 0), (255, 160, 0), (220, 20, 60)],
    }

    def load_data_list(self) -> List[dict]:
        """Read, check and prefix the data list of the annotation file."""
        annotations = load(self.ann_file)
        if not isinstance(annotations, dict) or not isinstance(
                annotations.get('data_list'), list):
            raise ValueError(f'{self.ann_file}: expected a JSON object with "metainfo" and a '
                             '"data_list" list, as written by '
                             'tools/dataset_converters/covidx_ct.py')
        classes = tuple(self.metainfo['classes'])
        file_classes = tuple(annotations.get('metainfo', {}).get('classes', classes))
        if file_classes != classes:
            raise ValueError(f'{self.ann_file}: classes {file_classes} differ from the '
                             f'dataset classes {classes}; expected the same names in the '
                             'same order')
        data_list = []
        for i, raw in enumerate(annotations['data_list']):
            where = f'{self.ann_file}: data_list[{i}]'
            if not isinstance(raw, dict) or 'img_path' not in raw or 'gt_label' not in raw:
                raise ValueError(f'{where}: expected an object with "img_path" and '
                                 f'"gt_label", got {raw!r}')
            label = raw['gt_label']
            if isinstance(label, bool) or not isinstance(label, int) or not (
                    0 <= label < len(classes)):
                raise ValueError(f'{where}: gt_label {label!r}; expected an integer in '
                                 f'0..{len(classes) - 1} ({", ".join(classes)})')
            data_list.append(self.parse_data_info(dict(raw)))
        if not data_list:
            raise ValueError(f'{self.ann_file}: empty data_list; expected at least one slice')
        return data_list

    def get_cat_ids(self, idx: int) -> List[int]:
        """Class of sample ``idx`` as a list (what ``ClassBalancedDataset`` reads)."""
        return [int(self.get_data_info(idx)['gt_label'])]

    def get_gt_labels(self) -> np.ndarray:
        """Class of every sample, (N,) int64."""
        return np.array([self.get_data_info(i)['gt_label'] for i in range(len(self))],
                        dtype=np.int64)
