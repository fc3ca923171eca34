"""BodyCrop: crop a COVIDx-CT slice to its body box."""
from mmcv.transforms import BaseTransform

from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class BodyCrop(BaseTransform):
    """Crop the image to ``results['crop_bbox']`` when the sample has one.

    COVIDx-CT gives every slice a body box (``xmin ymin xmax ymax``, max exclusive);
    ``tools/dataset_converters/covidx_ct.py --crop-body`` stores it as ``crop_bbox`` so
    that this transform removes the air and the table around the patient before
    resizing. Samples without ``crop_bbox`` pass unchanged, so the same pipeline serves
    both kinds of annotation file. Only for image-level labels: boxes and masks are not
    cropped (the lesion set has none of these boxes).

    Required keys: img, crop_bbox (optional)

    Modified keys: img, img_shape
    """

    def transform(self, results: dict) -> dict:
        box = results.get('crop_bbox')
        if box is None:
            return results
        if 'gt_bboxes' in results or 'gt_masks' in results:
            raise ValueError(f'{results.get("img_path")}: BodyCrop does not crop instance '
                             'annotations; expected a classification sample')
        img = results['img']
        h, w = img.shape[:2]
        x1, y1, x2, y2 = (int(v) for v in box)
        if not (0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h):
            raise ValueError(f'{results.get("img_path")}: crop_bbox {list(box)} is not inside '
                             f'the {w}x{h} image; expected 0 <= xmin < xmax <= width and '
                             '0 <= ymin < ymax <= height')
        results['img'] = img[y1:y2, x1:x2]
        results['img_shape'] = results['img'].shape[:2]
        return results
