"""report_screenshot.py: a PNG of a report's viewer at the slice asked for."""
import pytest

from mmdet_covid.utils.headless_browser import missing_browser_parts
from tests.conftest import load_tool

screenshot = load_tool('analysis_tools/report_screenshot.py')


def test_a_missing_report_is_refused(tmp_path, capsys):
    assert screenshot.main([str(tmp_path / 'none.html'), '--out', str(tmp_path / 'x.png')]) == 2
    assert 'none.html: no such file' in capsys.readouterr().err


def test_the_viewer_at_a_slice_as_a_png(markup_report, tmp_path, capsys):
    missing = missing_browser_parts()
    if missing:
        pytest.skip(f'no browser: missing {", ".join(missing)} (tools/install_browser.sh)')
    import cv2

    page, analysis = markup_report
    out = tmp_path / 'viewer.png'
    assert screenshot.main([page, '--out', str(out), '--slice', '5', '--window',
                            'mediastinum', '--width', '800', '--height', '600']) == 0
    image = cv2.imread(str(out))
    # the window's viewport (its height less the browser's own bars), not a blank page
    assert image.shape[1] == 800 and 300 < image.shape[0] <= 600 and image.std() > 10
    depth = analysis.volume.hu.shape[0]
    assert f'slice 6 of {depth} (' in capsys.readouterr().out
