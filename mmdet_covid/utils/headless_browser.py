"""A headless Chromium driven by Selenium: the report viewer's tests and screenshots.

Debian's ``chromium`` and ``chromium-driver`` (``tools/install_browser.sh``) with the
flags a closed network needs: no background connections, no component updates, no sync,
a fresh profile per browser.
"""
import os.path as osp
import shutil
import tempfile
from contextlib import contextmanager
from typing import Iterator, List

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
FLAGS = ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--disable-dev-shm-usage')


def missing_browser_parts() -> List[str]:
    """What is missing to drive the browser (empty when nothing is)."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not osp.exists(path)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append('the selenium package (pip install -e .[tests])')
    return missing


@contextmanager
def headless_chromium(width: int = 1200, height: int = 900) -> Iterator[object]:
    """A Selenium WebDriver on a headless Chromium whose console log is kept
    (``driver.get_log('browser')``); quit and its profile removed on exit."""
    missing = missing_browser_parts()
    if missing:
        raise RuntimeError(f'no headless browser: missing {", ".join(missing)} (as root: '
                           'bash tools/install_browser.sh)')
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix='chromium-profile-')
    for flag in FLAGS + (f'--window-size={width},{height}', f'--user-data-dir={profile}'):
        options.add_argument(flag)
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
