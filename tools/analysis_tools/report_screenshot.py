"""A picture of a scan report's slice viewer, as a headless Chromium shows it.

    python tools/analysis_tools/report_screenshot.py REPORT_HTML --out viewer.png \\
        [--slice K] [--window lung|mediastinum] [--width 1200] [--height 900]

Opens the page, goes to slice K (default: the slice the viewer opens on, the one with most
lesion), scrolls the viewer into view and saves the window as PNG. Needs Debian's
chromium and chromium-driver (``bash tools/install_browser.sh`` as root).
"""
import argparse
import os.path as osp
import sys


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('report', help='report.html written by tools/analyze_scan.py')
    parser.add_argument('--out', required=True, help='PNG to write')
    parser.add_argument('--slice', type=int, default=None, help='slice index (from 0)')
    parser.add_argument('--window', choices=('lung', 'mediastinum'), default='lung')
    parser.add_argument('--width', type=int, default=1200)
    parser.add_argument('--height', type=int, default=900)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.report):
        print(f'error: {args.report}: no such file', file=sys.stderr)
        return 2
    from selenium.webdriver.common.by import By

    from mmdet_covid.utils.headless_browser import headless_chromium

    with headless_chromium(args.width, args.height) as driver:
        driver.get('file://' + osp.abspath(args.report))
        driver.find_element(By.CSS_SELECTOR, f'input[value={args.window}]').click()
        if args.slice is not None:
            driver.execute_script(
                "const s = document.getElementById('slider'); s.value = arguments[0];"
                "s.dispatchEvent(new Event('input'));", str(args.slice))
        driver.execute_script("document.getElementById('viewer').scrollIntoView();"
                              'window.scrollBy(0, -10);')
        shown = driver.find_element(By.ID, 'slice-label').text
        if not driver.save_screenshot(args.out):
            print(f'error: {args.out}: the browser wrote no screenshot', file=sys.stderr)
            return 1
    print(f'{args.out}: {shown}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
