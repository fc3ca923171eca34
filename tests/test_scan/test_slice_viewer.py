"""The report's slice viewer: its pieces, then the page in a real headless Chromium."""
import os.path as osp

import numpy as np
import pytest

from mmdet_covid.scan.lung_mask import LEFT, RIGHT
from mmdet_covid.scan.slice_viewer import VIEW_SIDE, burden_slices, script_json, view_shape
from mmdet_covid.utils.headless_browser import headless_chromium, missing_browser_parts
from tests.conftest import MARKUP_DESCRIPTION, MARKUP_NAME


def test_a_slice_is_shown_at_most_view_side_pixels_in_its_millimetres():
    assert view_shape((512, 512), (5.0, 0.7, 0.7)) == (VIEW_SIDE, VIEW_SIDE)
    assert view_shape((512, 512), (5.0, 0.5, 1.0)) == (VIEW_SIDE // 2, VIEW_SIDE)
    assert view_shape((100, 200), None) == (100, 200)  # not enlarged
    assert view_shape((600, 300), None) == (VIEW_SIDE, VIEW_SIDE // 2)


def test_json_in_a_script_element_cannot_close_it():
    text = script_json(dict(name='</script><script>alert(1)</script>&amp;'))
    assert '<' not in text and '>' not in text and '&' not in text
    import json
    assert json.loads(text)['name'] == '</script><script>alert(1)</script>&amp;'


def test_each_burden_row_jumps_to_its_slice_with_most_lesion():
    sides = np.zeros((9, 8, 8), np.uint8)
    sides[:, :, :4] = RIGHT  # the right lung on every slice: zones 0-2, 3-5, 6-8
    sides[2:8, :, 4:] = LEFT  # the left lung on slices 2-7: zones 2-3, 4-5, 6-7
    labels = np.zeros(sides.shape, np.uint8)
    labels[4, :2, :2] = 1  # right, middle zone
    labels[7, :, 5:] = 2  # left, upper zone: the most lesion of all
    jumps = burden_slices(labels, sides)
    assert jumps['total'] == 7 and jumps['left'] == 7 and jumps['left_upper'] == 7
    assert jumps['right'] == 4 and jumps['right_middle'] == 4
    assert jumps['right_lower'] == 1 and jumps['left_lower'] == 3  # no lesion: the middle


def test_the_report_scrolls_toggles_and_jumps_in_a_real_browser(markup_report):
    page, analysis = markup_report
    depth = analysis.volume.hu.shape[0]
    missing = missing_browser_parts()
    if missing:
        pytest.skip(f'no browser test without {", ".join(missing)}: `make test` installs '
                    'Debian\'s chromium and chromium-driver where it runs as root '
                    '(tools/install_browser.sh)')
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with headless_chromium() as driver:
        driver.get('file://' + osp.abspath(page))
        viewer = driver.find_element(By.ID, 'viewer')

        def current() -> int:
            return int(viewer.get_attribute('data-slice'))

        label = driver.find_element(By.ID, 'slice-label')
        # the slider reaches the last slice
        slider = driver.find_element(By.ID, 'slider')
        slider.send_keys(Keys.END)
        assert current() == depth - 1
        assert label.text.startswith(f'slice {depth} of {depth} (')
        # a key press changes the slice
        driver.find_element(By.TAG_NAME, 'body').send_keys(Keys.ARROW_DOWN)
        assert current() == depth - 2
        # toggling hides the overlay
        lesions = driver.find_element(By.ID, 'lesions')
        assert lesions.value_of_css_property('visibility') == 'visible'
        driver.find_element(By.ID, 'show-lesions').click()
        assert lesions.value_of_css_property('visibility') == 'hidden'
        # the window presets swap the image
        before = driver.find_element(By.ID, 'base').get_attribute('src')
        driver.find_element(By.CSS_SELECTOR, 'input[value=mediastinum]').click()
        assert driver.find_element(By.ID, 'base').get_attribute('src') != before
        # a burden row and a bar of the strip jump to their slices
        row = driver.find_element(By.CSS_SELECTOR, 'tr[data-slice]')
        row.click()
        assert current() == int(row.get_attribute('data-slice'))
        driver.execute_script(
            "document.querySelector('#strip .hit[data-slice=\"3\"]')"
            ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
        assert current() == 3
        # the header text is shown as text, and none of it ran
        name = driver.find_element(By.CSS_SELECTOR, '#patient .patient-name')
        assert name.text == MARKUP_NAME
        assert name.find_elements(By.TAG_NAME, 'b') == []
        description = driver.find_element(By.CSS_SELECTOR, '#patient .series-description')
        assert description.text == MARKUP_DESCRIPTION
        assert driver.execute_script('return window.__pwned === undefined')
        # no error on the console
        errors = [entry for entry in driver.get_log('browser') if entry['level'] == 'SEVERE']
        assert errors == []


def test_the_viewer_embeds_every_slice_in_a_small_page(markup_report):
    page, analysis = markup_report
    with open(page, encoding='utf-8') as f:
        text = f.read()
    depth = analysis.volume.hu.shape[0]
    assert text.count('"names"') == 1 and 'id="viewer-data"' in text
    assert MARKUP_NAME not in text and MARKUP_DESCRIPTION not in text  # escaped
    # 12 slices of 128x128: the page with its key-slice figures stays small
    assert osp.getsize(page) < 60_000 * depth
