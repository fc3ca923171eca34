"""Fixtures of the dataset tests (the prepared phantom is in tests/conftest.py)."""
import pytest


@pytest.fixture(scope='session')
def registered():
    """mmdet's and this plugin's modules in the registries (default scope mmdet)."""
    from mmdet.utils import register_all_modules

    register_all_modules()
    import mmdet_covid  # noqa: F401
