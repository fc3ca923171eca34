"""Segment lesions and classify CT slices with a trained SSM.

    python tools/infer.py CONFIG CHECKPOINT INPUT [INPUT ...] [--out-dir DIR]

INPUT: PNG/JPEG (8- or 16-bit), DICOM files, NIfTI volumes (every axial slice)
or folders of them. Prints one line per slice (class probabilities, number of
lesions, lesion area) and, with --out-dir, writes an overlay per slice: lesion
masks and boxes, the predicted class and its probabilities.
"""
import argparse
import os
import os.path as osp

from mmdet.apis import init_detector
from mmdet.registry import VISUALIZERS

from mmdet_covid.apis import inference_ct_slices
from mmdet_covid.datasets import LoadCTSlice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('inputs', nargs='+')
    parser.add_argument('--out-dir', help='write overlays here')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--score-thr', type=float, default=0.5,
                        help='lesions drawn from this score on')
    args = parser.parse_args()

    model = init_detector(args.config, args.checkpoint, device=args.device)
    classes = model.classifier.classes
    visualizer = None
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
        visualizer = VISUALIZERS.build(dict(type='SSMVisualizer', name='infer', classes=classes))
        visualizer.dataset_meta = dict(classes=('lesion', ))
    print(f'{"slice":<48} {"class":<9} ' + ' '.join(f'{c:>8}' for c in classes)
          + '  lesions  area(px)')
    loader = LoadCTSlice()  # reads every format (caches the last NIfTI volume)
    for sample in inference_ct_slices(model, args.inputs, args.batch_size):
        name = osp.basename(sample.img_path)
        if 'slice_index' in sample:
            name += f':{sample.slice_index}'
        keep = sample.pred_instances.scores >= args.score_thr
        area = int(sample.pred_instances.masks[keep].any(0).sum()) if keep.any() else 0
        probs = sample.pred_score.tolist()
        print(f'{name:<48} {classes[int(sample.pred_label)]:<9} '
              + ' '.join(f'{p:8.3f}' for p in probs) + f'  {int(keep.sum()):7d}  {area:8d}')
        if visualizer is not None:
            source = dict(img_path=sample.img_path)
            if 'slice_index' in sample:
                source['slice_index'] = sample.slice_index
            image = loader(source)['img'][..., ::-1]  # any format, as the model saw it
            stem = osp.splitext(name.replace(':', '_'))[0]
            visualizer.add_datasample(stem, image, sample, draw_gt=False, show=False,
                                      pred_score_thr=args.score_thr,
                                      out_file=osp.join(args.out_dir, f'{stem}.png'))


if __name__ == '__main__':
    main()
