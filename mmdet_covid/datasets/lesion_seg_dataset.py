"""LesionSegDataset: lesion instances of the CNCB-nCoV lesion set in COCO format."""
from typing import List

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS


@DATASETS.register_module()
class LesionSegDataset(CocoDataset):
    """COCO instance file of lung lesions, one class ``lesion`` (GGO + consolidation).

    Written by ``tools/dataset_converters/cncb_to_coco.py``; ``file_name`` is relative
    to ``data_prefix['img']``. Every class of ``metainfo`` must be a category of the
    file: mmdet would otherwise drop its annotations without a word (for the
    ``--classes ggo-consolidation`` files, pass
    ``metainfo=dict(classes=('GGO', 'consolidation'))``).
    """

    METAINFO = {
        'classes': ('lesion', ),
        'palette': [(220, 20, 60)],
    }

    def load_data_list(self) -> List[dict]:
        """Load the COCO file and check that it holds every class of the dataset."""
        data_list = super().load_data_list()
        classes = tuple(self.metainfo['classes'])
        if len(self.cat_ids) != len(classes):
            raise ValueError(
                f'{self.ann_file}: {len(self.cat_ids)} of the classes {classes} are '
                'categories of the file; expected all of them (write the file with '
                'tools/dataset_converters/cncb_to_coco.py and matching --classes)')
        return data_list

    def filter_data(self) -> List[dict]:
        """mmdet's filter, and a clear error when it leaves nothing to train on.

        With ``filter_empty_gt`` (the training sets) a lesion set whose slices
        are all lesion-free would otherwise fail later inside mmengine
        ("need at least one array to concatenate").
        """
        kept = super().filter_data()
        if not kept and not self.test_mode and self.data_list:
            raise ValueError(
                f'{self.ann_file}: none of its {len(self.data_list)} slices has a lesion '
                f'(of at least min_size={self.filter_cfg.get("min_size", 0)} px), so there '
                f'is nothing to train the segmentation on; check the masks and the '
                f'converter\'s --min-area, or use the file as a test set')
        return kept
