"""DetVisualizationHook whose test drawings keep apart slices of equal names."""
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import mmcv
from mmengine.fileio import get
from mmengine.utils import mkdir_or_exist
from mmdet.engine.hooks import DetVisualizationHook
from mmdet.registry import HOOKS
from mmdet.structures import DetDataSample


@HOOKS.register_module()
class SSMVisualizationHook(DetVisualizationHook):
    """:class:`DetVisualizationHook` for the two test sets of the SSM.

    The stock hook writes every test drawing (``--show-dir``) to the file
    name of its slice: the CNCB layout ``<scan>/<frame>.png`` repeats frame
    names in every scan, so all but one drawing per name are overwritten,
    and a lesion-set and a classification slice of the same name clash too.
    Here a drawing goes to ``<show_dir>/<part>/<path of the slice under its
    dataset's image folder>``: ``lesion/scan_0003/0002.png``,
    ``cls/NCP_12_3_0040.png``. A slice outside both image folders goes to
    ``other/<its absolute path>``. The output folder is resolved once (the stock hook
    re-joins it on every iteration).

    Args: as :class:`DetVisualizationHook`.
    """

    def before_test(self, runner) -> None:
        self._out_root = None
        if self.test_out_dir is not None:
            self._out_root = osp.join(runner.work_dir, runner.timestamp, self.test_out_dir)
        self._image_roots = self._dataset_image_roots(runner)

    @staticmethod
    def _dataset_image_roots(runner) -> List[Tuple[str, str]]:
        """``(part, image folder)`` of the test loop's datasets, longest first."""
        loop = runner.test_loop
        loaders = [loader for loader, _ in getattr(loop, 'parts', [])] or [loop.dataloader]
        roots = []
        for loader in loaders:
            dataset = loader.dataset
            prefix = dataset.data_prefix.get('img', dataset.data_prefix.get('img_path', ''))
            part = 'lesion' if 'img' in dataset.data_prefix else 'cls'
            if prefix:
                roots.append((part, osp.abspath(prefix)))
        return sorted(roots, key=lambda r: -len(r[1]))

    def output_name(self, img_path: str) -> str:
        """The drawing's path under the output folder (see the class doc)."""
        path = osp.abspath(img_path)
        for part, root in self._image_roots:
            if path.startswith(root + osp.sep):
                return osp.join(part, osp.relpath(path, root))
        return osp.join('other', path.lstrip(osp.sep))

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence[DetDataSample]) -> None:
        if self.draw is False:
            return
        for data_sample in outputs:
            self._test_index += 1
            img_path = data_sample.img_path
            img = mmcv.imfrombytes(get(img_path, backend_args=self.backend_args),
                                   channel_order='rgb')
            out_file: Optional[str] = None
            if self._out_root is not None:
                out_file = osp.join(self._out_root, self.output_name(img_path))
                mkdir_or_exist(osp.dirname(out_file))
            self._visualizer.add_datasample(
                osp.basename(img_path) if self.show else 'test_img', img,
                data_sample=data_sample, show=self.show, wait_time=self.wait_time,
                pred_score_thr=self.score_thr, out_file=out_file, step=self._test_index)
