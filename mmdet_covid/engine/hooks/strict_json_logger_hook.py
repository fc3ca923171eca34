"""StrictJsonLoggerHook: mmengine's LoggerHook whose test-metrics file is strict JSON."""
from mmengine.hooks import LoggerHook

from mmdet.registry import HOOKS
from ...utils.strict_json import strict_json


@HOOKS.register_module()
class StrictJsonLoggerHook(LoggerHook):
    """:class:`~mmengine.hooks.LoggerHook` that writes undefined metrics as null.

    After a test run, LoggerHook dumps the metrics to ``<log_dir>/<timestamp>.json``;
    a NaN there (the sensitivity of a class absent from the test split) would be the
    bare token ``NaN``, which JSON readers other than Python's refuse. Here it is
    ``null``. The log line still prints ``nan``. (Validation scalars go through the
    visualizer: :class:`~mmdet_covid.visualization.SSMVisualizer` does the same.)
    """

    @staticmethod
    def _process_tags(tags: dict) -> dict:
        return strict_json(LoggerHook._process_tags(tags))
