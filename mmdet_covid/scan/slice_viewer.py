"""The report's slice viewer: every slice of the scan, scrolled inside ``report.html``.

The page stays one self-contained file: each slice is embedded twice as a small JPEG (at
the lung and at the mediastinum window, its longer side :data:`VIEW_SIDE` pixels, its
aspect that of the pixel spacing) and its overlays as transparent PNGs (the lesions in
the report's colours, the lung mask's outline), so that the window presets and the
overlay toggles swap images and need no pixel arithmetic in the browser. A slider, the
mouse wheel over the image and the arrow keys scroll; clicking a bar of the lesion-area
strip under the image, or a row of the burden table, jumps to its slice.

Everything that comes from the input (slice names) reaches the page as JSON inside a
``<script type="application/json">`` element with ``<``, ``>`` and ``&`` escaped, and is
shown with ``textContent``: never parsed as markup.
"""
import base64
import json
from typing import Dict, List, Optional

import cv2
import numpy as np

from ..io.ct_io import apply_window
from .burden import CONSOLIDATION_LABEL, GGO_LABEL, LABEL_COLOURS, ZONES, zone_map
from .lung_mask import LEFT, RIGHT

# The longer side of a slice as embedded (pixels), and the factor it is shown enlarged by:
# 300 slices stay under 15 MB.
VIEW_SIDE = 256
ZOOM = 2
# The window presets: (level, width) in HU.
WINDOWS = {'lung': (-600.0, 1500.0), 'mediastinum': (40.0, 400.0)}
JPEG_QUALITY = 80
# RGBA of the overlays: the lesion labels' colours, consolidation more opaque; a cyan
# lung outline.
COLOURS = {GGO_LABEL: LABEL_COLOURS[GGO_LABEL] + (150, ),
           CONSOLIDATION_LABEL: LABEL_COLOURS[CONSOLIDATION_LABEL] + (170, )}
OUTLINE = (0, 200, 230, 255)


def view_shape(shape, spacing) -> tuple:
    """(rows, columns) of a slice in the viewer: the longer side :data:`VIEW_SIDE` (a
    smaller slice is not enlarged), the aspect that of the pixels' millimetres when the
    spacing is known."""
    rows, cols = shape
    height, width = (rows * spacing[1], cols * spacing[2]) if spacing is not None else \
        (rows, cols)
    scale = min(VIEW_SIDE, max(rows, cols)) / max(height, width)
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def _b64(ext: str, image: np.ndarray, params=()) -> str:
    ok, buf = cv2.imencode(ext, image, list(params))
    if not ok:
        raise ValueError(f'slice viewer: OpenCV could not encode a {ext} image')
    return base64.b64encode(buf.tobytes()).decode('ascii')


def _grey(hu: np.ndarray, window: tuple, size: tuple) -> str:
    grey = apply_window(hu, window[0], window[1])
    small = cv2.resize(grey, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return _b64('.jpg', small, (cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY))


def _lesion_overlay(labels: np.ndarray, size: tuple) -> str:
    small = cv2.resize(labels, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    rgba = np.zeros(size + (4, ), np.uint8)
    for value, colour in COLOURS.items():
        rgba[small == value] = colour
    return _b64('.png', cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))


def _lung_outline(lung: np.ndarray, size: tuple) -> str:
    small = cv2.resize(lung.astype(np.uint8), (size[1], size[0]),
                       interpolation=cv2.INTER_NEAREST)
    rgba = np.zeros(size + (4, ), np.uint8)
    contours, _ = cv2.findContours(small, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(rgba, contours, -1, OUTLINE, 1)
    return _b64('.png', cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))


def burden_slices(lesion_labels: np.ndarray, sides: np.ndarray) -> Dict[str, int]:
    """The slice each row of the burden table jumps to: the slice with most lesion
    pixels in its region (the whole lung, one side, or one zone of a side: a third of
    that lung's extent along the body axis), or the middle slice of the region where it
    has no lesion."""
    lesions = lesion_labels > 0
    per_side = {side: (lesions & (sides == value)).sum(axis=(1, 2))
                for side, value in (('right', RIGHT), ('left', LEFT))}
    zones = zone_map(sides)
    lung_slices = np.flatnonzero((sides > 0).any(axis=(1, 2)))

    def best(area: np.ndarray, candidates: np.ndarray) -> Optional[int]:
        if not len(candidates):
            return None
        if area[candidates].max() > 0:
            return int(candidates[np.argmax(area[candidates])])
        return int(candidates[len(candidates) // 2])

    jumps = {'total': best(per_side['right'] + per_side['left'], lung_slices)}
    for col, side in enumerate(('right', 'left')):
        jumps[side] = best(per_side[side], np.flatnonzero(zones[:, col] >= 0))
        for z, zone in enumerate(ZONES):
            jumps[f'{side}_{zone}'] = best(per_side[side], np.flatnonzero(zones[:, col] == z))
    return {region: k for region, k in jumps.items() if k is not None}


def viewer_data(analysis) -> dict:
    """Every slice's images and facts, as the page's script reads them."""
    volume = analysis.volume
    depth = volume.hu.shape[0]
    size = view_shape(volume.hu.shape[1:], volume.spacing)
    data: Dict[str, List] = {name: [] for name in WINDOWS}
    data.update(lesions=[], lungs=[])
    for k in range(depth):
        for name, window in WINDOWS.items():
            data[name].append(_grey(volume.hu[k], window, size))
        data['lesions'].append(_lesion_overlay(analysis.lesion_labels[k], size))
        data['lungs'].append(_lung_outline(analysis.sides[k] > 0, size))
    rows = analysis.slices
    area = [r['lesion_pixels'] for r in rows]
    return dict(data, size=list(size), names=[r['name'] for r in rows],
                z_mm=[r['z_mm'] for r in rows], analysed=[r['analysed'] for r in rows],
                predicted=[r.get('predicted_class') for r in rows], lesion_pixels=area,
                start=int(np.argmax(area)) if max(area, default=0) > 0 else depth // 2)


def script_json(value) -> str:
    """JSON that can sit inside a ``<script>`` element whatever its strings hold."""
    return (json.dumps(value, separators=(',', ':'))
            .replace('<', '\\u003c').replace('>', '\\u003e').replace('&', '\\u0026'))


def _strip(area: List[int]) -> str:
    """The lesion area per slice as an SVG bar strip; each bar a button to its slice."""
    n = max(len(area), 1)
    top = max(max(area, default=0), 1)
    bars = ''.join(
        f'<rect class="bar" data-slice="{k}" x="{k}" y="{40 - 38 * a / top:.2f}" '
        f'width="1" height="{max(38 * a / top, 0.0):.2f}"></rect>'
        f'<rect class="hit" data-slice="{k}" x="{k}" y="0" width="1" height="40"></rect>'
        for k, a in enumerate(area))
    return (f'<svg id="strip" viewBox="0 0 {n} 40" preserveAspectRatio="none" '
            f'role="img" aria-label="lesion area per slice; click a slice to show it">'
            f'<rect id="cursor" x="0" y="0" width="1" height="40"></rect>{bars}</svg>')


STYLE = """
#viewer { display: flex; gap: 1.5em; align-items: flex-start; flex-wrap: wrap; }
#stack { position: relative; background: #000; }
#stack img { position: absolute; left: 0; top: 0; margin: 0; image-rendering: auto; }
#controls { flex: 1 1 260px; min-width: 260px; }
#controls label { display: block; margin: .3em 0; }
#slider { width: 100%; }
#strip { width: 100%; height: 60px; background: #f4f4f4; cursor: pointer; }
#strip .bar { fill: #d62728; } #strip .hit { fill: transparent; }
#strip #cursor { fill: #1f77b4; opacity: .5; }
tr[data-slice] { cursor: pointer; } tr[data-slice]:hover { background: #eef; }
"""

SCRIPT = """
document.addEventListener('DOMContentLoaded', function () {
  const data = JSON.parse(document.getElementById('viewer-data').textContent);
  const n = data.names.length;
  const base = document.getElementById('base');
  const lesions = document.getElementById('lesions');
  const lungs = document.getElementById('lungs');
  const slider = document.getElementById('slider');
  const label = document.getElementById('slice-label');
  const cursor = document.getElementById('cursor');
  let current = 0;
  let windowName = 'lung';
  function show(k) {
    current = Math.max(0, Math.min(n - 1, k));
    base.src = 'data:image/jpeg;base64,' + data[windowName][current];
    lesions.src = 'data:image/png;base64,' + data.lesions[current];
    lungs.src = 'data:image/png;base64,' + data.lungs[current];
    slider.value = String(current);
    cursor.setAttribute('x', String(current));
    const z = data.z_mm[current];
    const what = data.analysed[current] ? (data.predicted[current] + ', ' +
      data.lesion_pixels[current] + ' lesion pixel(s)') : 'not analysed (no lung)';
    label.textContent = 'slice ' + (current + 1) + ' of ' + n + ' (' + data.names[current] +
      (z === null ? '' : ', z ' + z.toFixed(1) + ' mm') + '): ' + what;
    document.getElementById('viewer').dataset.slice = String(current);
  }
  slider.max = String(n - 1);
  slider.addEventListener('input', function () { show(Number(slider.value)); });
  document.getElementById('stack').addEventListener('wheel', function (event) {
    event.preventDefault();
    show(current + (event.deltaY > 0 ? 1 : -1));
  }, {passive: false});
  document.addEventListener('keydown', function (event) {
    const step = {ArrowUp: 1, ArrowRight: 1, ArrowDown: -1, ArrowLeft: -1,
                  PageUp: 10, PageDown: -10}[event.key];
    if (step === undefined || event.target.tagName === 'INPUT' &&
        event.target.type !== 'range' && event.target.type !== 'checkbox' &&
        event.target.type !== 'radio') { return; }
    event.preventDefault();
    show(current + step);
  });
  document.getElementById('show-lesions').addEventListener('change', function (event) {
    lesions.style.visibility = event.target.checked ? 'visible' : 'hidden';
  });
  document.getElementById('show-lungs').addEventListener('change', function (event) {
    lungs.style.visibility = event.target.checked ? 'visible' : 'hidden';
  });
  document.querySelectorAll('input[name=window]').forEach(function (radio) {
    radio.addEventListener('change', function () { windowName = radio.value; show(current); });
  });
  document.querySelectorAll('[data-slice]').forEach(function (element) {
    if (element.id === 'viewer') { return; }
    element.addEventListener('click', function () { show(Number(element.dataset.slice)); });
  });
  show(data.start);
});
"""


def viewer_html(analysis) -> str:
    """The viewer's section of the page (markup, style, data and script)."""
    data = viewer_data(analysis)
    height, width = (ZOOM * side for side in data['size'])
    radios = ''.join(
        f'<label><input type="radio" name="window" value="{name}"'
        f'{" checked" if name == "lung" else ""}> {name} window (level {level:g}, width '
        f'{width_hu:g} HU)</label>' for name, (level, width_hu) in WINDOWS.items())
    return f"""<style>{STYLE}</style>
<div id="viewer" data-slice="0">
<div style="width:{max(width, 360)}px"><div id="stack" style="width:{width}px;height:{height}px">
<img id="base" alt="slice" width="{width}" height="{height}">
<img id="lesions" alt="" width="{width}" height="{height}">
<img id="lungs" alt="" width="{width}" height="{height}"></div>
<input id="slider" type="range" min="0" value="0" step="1" aria-label="slice">
<p id="slice-label" class="small"></p>{_strip(data['lesion_pixels'])}
<p class="small">Lesion area per slice, feet (left) to head (right): click to go there.</p>
</div>
<div id="controls">
<label><input id="show-lesions" type="checkbox" checked> lesions (yellow: ground glass;
red: consolidation)</label>
<label><input id="show-lungs" type="checkbox" checked> lung mask outline (cyan)</label>
{radios}
<p class="small">Scroll with the slider, the mouse wheel over the image, or the arrow keys
(Page Up / Down: 10 slices). Click a row of the burden table to go to its slice with most
lesion.</p></div></div>
<script type="application/json" id="viewer-data">{script_json(data)}</script>
<script>{SCRIPT}</script>"""
