"""One slice of the synthetic chest-CT phantom, drawn in Hounsfield units.

Every slice is built in Hounsfield units (HU) - air, subcutaneous fat, chest-wall
muscle, ribs, sternum, spine, mediastinum with heart and aorta, two lungs with vessels
and airways, a table under the patient, correlated noise - then shown in a lung window
(level -600, width 1500) as an 8-bit grey image, like the published slices.

Lesions follow the radiology of each class so that the task is learnable and not
trivial:

* COVID-19: multifocal (2-6), mostly bilateral, peripheral (subpleural, posterior and
  lateral) rounded ground-glass opacities (GGO), some with a consolidation core, some
  with crazy paving;
* common pneumonia (CP): mostly unilateral lobar or segmental consolidation (a wedge
  based on the pleura) with air bronchograms, sometimes with a GGO halo;
* normal: no lesions;
* hard slices: fewer, smaller or fainter lesions.

The mask of every slice is exact: 0 background, 1 lung field, 2 GGO, 3 consolidation
(a consolidation core inside a GGO patch is 3).
"""
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

# Typical attenuation of each tissue in Hounsfield units.
HU_AIR = -1000.0
HU_LUNG = -860.0
HU_FAT = -100.0
HU_MUSCLE = 45.0
HU_BLOOD = 40.0
HU_BONE = 700.0
HU_TABLE = 200.0
LUNG_WINDOW = (-600.0, 1500.0)  # (level, width) of the stored images

# The anatomy is drawn relative to the slice size; a slice is this wide in mm whatever
# its pixels (a 36 cm field of view, adult lung volumes of about 4 L): the whole-scan
# phantoms' PixelSpacing and the recorded data source say so.
FIELD_OF_VIEW_MM = 360.0

# Mask values of the CNCB-nCoV lesion set.
MASK_BACKGROUND, MASK_LUNG, MASK_GGO, MASK_CONSOLIDATION = 0, 1, 2, 3

# cv2 draws polygons with sub-pixel vertices: coordinates are multiplied by 2**SHIFT.
SHIFT = 4


@dataclass
class Anatomy:
    """Patient-specific body shape, all lengths in fractions of the image size."""
    cx: float
    cy: float
    body_ax: float  # half width of the body
    body_ay: float  # half height (anterior-posterior) of the body
    harmonics: np.ndarray  # (3, 2): amplitude and phase of body-outline harmonics 2..4
    fat: float  # subcutaneous fat thickness
    muscle: float  # chest-wall muscle thickness
    fat_hu: float
    lung_hu: float
    heart: float  # heart size factor
    noise_hu: float  # std of the CT noise
    dependent_hu: float  # posterior (gravity-dependent) lung density increase
    n_ribs: int


@dataclass
class Lesion:
    """One drawn lesion (before the converter's connected-component analysis)."""
    kind: str  # 'ggo' or 'consolidation' (its dominant component)
    side: str  # 'right' (image left) or 'left' (image right) lung
    area: int  # pixels, clipped to the lung


def sample_anatomy(rng: np.random.Generator) -> Anatomy:
    """Draw one patient's body habitus.

    The same distribution for every class: only the lesions tell the classes
    apart, and a model cannot learn a class from a patient's body.
    """
    return Anatomy(
        cx=0.5 + rng.uniform(-0.03, 0.03),
        cy=0.5 + rng.uniform(-0.02, 0.04),
        body_ax=rng.uniform(0.36, 0.46),
        body_ay=rng.uniform(0.26, 0.33),
        harmonics=np.stack([rng.uniform(0, 0.03, 3), rng.uniform(0, 2 * np.pi, 3)], 1),
        fat=rng.uniform(0.01, 0.05),
        muscle=rng.uniform(0.016, 0.032),
        fat_hu=rng.uniform(-120, -80),
        lung_hu=rng.uniform(-890, -820),
        heart=rng.uniform(0.85, 1.2),
        noise_hu=rng.uniform(25, 55),
        dependent_hu=rng.uniform(10, 70),
        n_ribs=int(rng.integers(5, 8)),
    )


@lru_cache(maxsize=4)
def _grid(size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (row, column), each (size, 1) / (1, size) float32."""
    coords = np.arange(size, dtype=np.float32)
    return coords[:, None], coords[None, :]


@lru_cache(maxsize=4)
def _noise_kernel(size: int) -> Tuple[int, float, float]:
    """Kernel size, sigma and std correction of the CT-noise blur at this size."""
    sigma = 0.8 * size / 512
    ksize = max(3, int(round(3 * sigma)) * 2 + 1)
    k = cv2.getGaussianKernel(ksize, sigma).ravel()
    # A separable blur scales the std of white noise by sum(k**2) (both axes).
    return ksize, sigma, 1.0 / float(np.sum(k ** 2))


def _outline(cx: float, cy: float, ax: float, ay: float, harmonics: np.ndarray,
             n: int = 128, posterior_flat: float = 0.0, angle: float = 0.0) -> np.ndarray:
    """Closed outline of a perturbed ellipse as cv2 polygon points.

    Args:
        cx, cy, ax, ay: centre and half axes in pixels.
        harmonics: (K, 2) amplitude and phase of the radial harmonics 2..K+1.
        posterior_flat: 0..1, how much the lower (posterior) half is squared off, as
            for a patient lying on the table.
        angle: rotation in radians.

    Returns:
        (n, 2) int32 points scaled by 2**SHIFT.
    """
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones_like(t)
    for k, (amp, phase) in enumerate(harmonics, start=2):
        r += amp * np.cos(k * t + phase)
    ct, st = np.cos(t), np.sin(t)
    if posterior_flat:
        st = np.where(st > 0, np.abs(st) ** (1 - posterior_flat), st)
    x, y = ax * r * ct, ay * r * st
    if angle:
        x, y = x * np.cos(angle) - y * np.sin(angle), x * np.sin(angle) + y * np.cos(angle)
    pts = np.stack([cx + x, cy + y], 1) * (1 << SHIFT)
    return np.round(pts).astype(np.int32)


def _fill(canvas: np.ndarray, pts: np.ndarray, value: int = 1) -> np.ndarray:
    cv2.fillPoly(canvas, [pts], value, lineType=cv2.LINE_8, shift=SHIFT)
    return canvas


def _ellipse(canvas: np.ndarray, cx: float, cy: float, ax: float, ay: float,
             value: int = 1, angle: float = 0.0, thickness: int = -1,
             line: int = cv2.LINE_8) -> np.ndarray:
    s = 1 << SHIFT
    cv2.ellipse(canvas, (int(round(cx * s)), int(round(cy * s))),
                (max(1, int(round(ax * s))), max(1, int(round(ay * s)))),
                np.degrees(angle), 0, 360, value, thickness, line, SHIFT)
    return canvas


def _blend(hu: np.ndarray, alpha_u8: np.ndarray, value) -> None:
    """In place: hu = hu + alpha * (value - hu), alpha a uint8 coverage map (0..255)."""
    x, y, w, h = cv2.boundingRect(alpha_u8)  # only where something was drawn
    if w == 0:
        return
    box = np.s_[y:y + h, x:x + w]
    a = alpha_u8[box].astype(np.float32) * np.float32(1 / 255)
    hu[box] += a * (np.float32(value) - hu[box])


def _ipt(p: np.ndarray) -> Tuple[int, int]:
    """A point as the int tuple cv2's line drawing takes."""
    return int(round(p[0])), int(round(p[1]))


def _largest_component(mask: np.ndarray) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 2:
        return mask
    keep = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return (labels == keep).astype(np.uint8)


def _smooth_mask(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Round the corners of a binary mask (blur then threshold)."""
    blurred = cv2.GaussianBlur(mask * 255, (0, 0), sigma)
    return (blurred > 127).astype(np.uint8)


class SliceRenderer:
    """Renders one slice: anatomy in HU, lesions of a pattern, noise, lung window.

    Args:
        size: image side in pixels (all geometry scales with it).
        anatomy: the patient's body habitus.
        z: cranio-caudal position, 0 lung base (diaphragm) to 1 upper thorax.
        rng: the slice's own random stream.
    """

    def __init__(self, size: int, anatomy: Anatomy, z: float, rng: np.random.Generator):
        self.s = size
        self.a = anatomy
        self.z = z
        self.rng = rng
        self.hu = np.full((size, size), HU_AIR, np.float32)
        self.lesion_code = np.zeros((size, size), np.uint8)  # 0, 2 GGO, 3 consolidation
        self.lesions: List[Lesion] = []

    # ------------------------------------------------------------------ anatomy
    def draw_anatomy(self) -> None:
        """Table, body wall, bones, mediastinum, lungs with vessels and airways (HU)."""
        s, a, rng, z = self.s, self.a, self.rng, self.z
        cx, cy = a.cx * s, a.cy * s
        ax, ay = a.body_ax * s, a.body_ay * s

        def u8() -> np.ndarray:  # an empty drawing canvas
            return np.zeros((s, s), np.uint8)

        # Table under the patient: a thin curved couch.
        table = _ellipse(u8(), cx, cy + ay + 0.52 * s, 0.75 * s, 0.5 * s, 255,
                         thickness=max(1, int(0.012 * s)), line=cv2.LINE_AA)
        _blend(self.hu, table, HU_TABLE)

        body = _fill(u8(), _outline(cx, cy, ax, ay, a.harmonics, posterior_flat=0.35))
        self.body = body
        self.hu[body > 0] = a.fat_hu
        shrink = a.fat * s
        muscle = _fill(u8(), _outline(cx, cy, ax - shrink, ay - shrink, a.harmonics,
                                      posterior_flat=0.35))
        self.hu[muscle > 0] = HU_MUSCLE
        shrink += a.muscle * s
        cav_ax, cav_ay = ax - shrink, ay - shrink
        cavity = _fill(u8(), _outline(cx, cy, cav_ax, cav_ay, a.harmonics,
                                      posterior_flat=0.35))
        self.hu[cavity > 0] = a.fat_hu + 40  # mediastinal fat and pleura

        # Bones: sternum, ribs along the cavity wall, vertebra with posterior arch.
        bone = u8()
        _ellipse(bone, cx, cy - cav_ay - 0.4 * a.muscle * s, 0.03 * s, 0.011 * s, 255,
                 line=cv2.LINE_AA)
        rib_r = 0.5 * a.muscle * s
        for side in (-1, 1):
            # Angles from the anterior to the posterior wall, leaving sternum and spine.
            angles = np.linspace(-0.35 * np.pi, 0.42 * np.pi, a.n_ribs)
            angles = angles + rng.uniform(-0.05, 0.05, a.n_ribs)
            for t in angles:
                px = cx + side * (cav_ax + 0.3 * rib_r) * np.cos(t)
                py = cy + (cav_ay + 0.3 * rib_r) * np.sin(t)
                tangent = np.arctan2(cav_ay * np.cos(t), -side * cav_ax * np.sin(t))
                _ellipse(bone, px, py, 1.9 * rib_r, 0.75 * rib_r, 255, angle=tangent,
                         line=cv2.LINE_AA)
        vy = cy + cav_ay - 0.075 * s  # vertebral body centre
        vr = 0.042 * s
        _ellipse(bone, cx, vy, vr * 1.1, vr, 255, line=cv2.LINE_AA)
        canal_y = vy + vr + 0.018 * s
        _ellipse(bone, cx, canal_y, 0.03 * s, 0.026 * s, 255,
                 thickness=max(1, int(0.012 * s)), line=cv2.LINE_AA)
        spinous = np.array([[cx - 0.008 * s, canal_y], [cx + 0.008 * s, canal_y],
                            [cx + 0.005 * s, canal_y + 0.07 * s],
                            [cx - 0.005 * s, canal_y + 0.07 * s]]) * (1 << SHIFT)
        cv2.fillPoly(bone, [np.round(spinous).astype(np.int32)], 255, cv2.LINE_AA, SHIFT)
        for side in (-1, 1):  # transverse processes
            cv2.line(bone, (int(cx + side * 0.02 * s), int(canal_y - 0.01 * s)),
                     (int(cx + side * 0.065 * s), int(canal_y - 0.02 * s)), 255,
                     max(1, int(0.012 * s)), cv2.LINE_AA)
        # Paraspinal muscles either side of the spinous process.
        para = u8()
        for side in (-1, 1):
            _ellipse(para, cx + side * 0.045 * s, canal_y + 0.035 * s, 0.038 * s, 0.03 * s,
                     255, line=cv2.LINE_AA)
        _blend(self.hu, para, HU_MUSCLE + 10)
        _blend(self.hu, bone, HU_BONE)
        canal = _ellipse(u8(), cx, canal_y, 0.018 * s, 0.015 * s, 255, line=cv2.LINE_AA)
        _blend(self.hu, canal, 20.0)  # spinal cord and CSF

        # Mediastinum: everything between the lungs, plus the paravertebral block.
        medi = u8()
        heart_scale = a.heart * np.interp(z, [0.0, 0.25, 0.55, 0.7], [0.6, 0.9, 0.7, 0.0])
        hx, hy = cx + 0.045 * s, cy - 0.01 * s
        heart = u8()
        if heart_scale > 0:
            _ellipse(heart, hx, hy, 0.15 * s * heart_scale, 0.12 * s * heart_scale, 1,
                     angle=-0.5)
        ao_x, ao_y = cx + 0.055 * s, vy - 0.035 * s  # descending aorta
        _ellipse(medi, ao_x, ao_y, 0.032 * s, 0.032 * s, 1)
        if z > 0.5:  # ascending aorta and superior vena cava above the heart
            _ellipse(medi, cx + 0.02 * s, cy - 0.11 * s, 0.04 * s, 0.04 * s, 1)
            _ellipse(medi, cx - 0.045 * s, cy - 0.1 * s, 0.025 * s, 0.025 * s, 1)
        column = np.array([[cx - 0.04 * s, cy - cav_ay - s], [cx + 0.04 * s, cy - cav_ay - s],
                           [cx + 0.06 * s, vy], [cx - 0.06 * s, vy]]) * (1 << SHIFT)
        cv2.fillPoly(medi, [np.round(column).astype(np.int32)], 1, cv2.LINE_8, SHIFT)
        _ellipse(medi, cx, vy + 0.02 * s, 0.085 * s, 0.07 * s, 1)  # spine and paraspinal
        medi |= heart
        vessels_big = u8()
        _ellipse(vessels_big, ao_x, ao_y, 0.03 * s, 0.03 * s, 255, line=cv2.LINE_AA)
        if heart_scale > 0:
            _ellipse(vessels_big, hx, hy, 0.145 * s * heart_scale, 0.115 * s * heart_scale,
                     255, angle=-0.5, line=cv2.LINE_AA)
        if z > 0.5:
            _ellipse(vessels_big, cx + 0.02 * s, cy - 0.11 * s, 0.038 * s, 0.038 * s, 255,
                     line=cv2.LINE_AA)
            _ellipse(vessels_big, cx - 0.045 * s, cy - 0.1 * s, 0.023 * s, 0.023 * s, 255,
                     line=cv2.LINE_AA)
        _blend(self.hu, vessels_big, HU_BLOOD)

        # Lungs: the cavity inside the pleura, minus the mediastinum; the liver dome
        # (and on the left the stomach) rises into the bases near the diaphragm.
        pleura = 0.007 * s
        lungs = _fill(u8(), _outline(cx, cy, cav_ax - pleura, cav_ay - pleura,
                                     a.harmonics, posterior_flat=0.35))
        lungs[medi > 0] = 0
        if z < 0.3:
            dome = (0.3 - z) / 0.3
            liver = _ellipse(u8(), cx - 0.2 * s, cy + 0.09 * s, 0.17 * s * dome + 0.02 * s,
                             0.14 * s * dome + 0.02 * s, 1, angle=0.4)
            _ellipse(liver, cx + 0.22 * s, cy + 0.1 * s, 0.09 * s * dome, 0.08 * s * dome, 1)
            lungs[liver > 0] = 0
            self.hu[(liver > 0) & (cavity > 0)] = 55.0
        # Each lung is the largest smooth piece on its side of the midline.
        lungs[:, int(round(cx))] = 0
        n, labels, stats, centroids = cv2.connectedComponentsWithStats(
            _smooth_mask(lungs, 0.012 * s), connectivity=8)
        self.lung_sides: Dict[str, np.ndarray] = {}
        self.lung_centroids: Dict[str, np.ndarray] = {}
        for name, on_side in (('right', centroids[1:, 0] < cx), ('left', centroids[1:, 0] >= cx)):
            areas = np.where(on_side, stats[1:, cv2.CC_STAT_AREA], 0)
            if n > 1 and areas.max() > 0:
                k = 1 + int(np.argmax(areas))
                self.lung_sides[name] = (labels == k).astype(np.uint8)
                self.lung_centroids[name] = centroids[k]
            else:
                self.lung_sides[name] = np.zeros_like(lungs)
                self.lung_centroids[name] = np.array([cx, cy])
        self.lung = self.lung_sides['right'] | self.lung_sides['left']
        rows, _ = _grid(s)
        ys = np.nonzero(self.lung.any(1))[0]
        top, bottom = (ys[0], ys[-1]) if len(ys) else (0, s - 1)
        ramp = np.clip((rows - top) / max(1, bottom - top), 0, 1) ** 2  # (s, 1)
        # Parenchyma is not flat: slow +-25 HU variation of perfusion and aeration.
        mottle = cv2.resize(rng.uniform(-25, 25, (8, 8)).astype(np.float32), (s, s),
                            interpolation=cv2.INTER_CUBIC)
        lung_hu = a.lung_hu + a.dependent_hu * ramp + mottle
        self.hu = np.where(self.lung > 0, lung_hu, self.hu).astype(np.float32)

        self._draw_lung_vessels(cx, cy)
        self._draw_central_airways(cx, cy)

        # Partial-volume effect: soften the anatomy before lesions are painted.
        self.hu = cv2.GaussianBlur(self.hu, (0, 0), 0.6 * s / 512 + 0.2)

    def _draw_lung_vessels(self, cx: float, cy: float) -> None:
        """Vessel cross-sections, in-plane branches and bronchi inside both lungs."""
        s, rng = self.s, self.rng
        vessel = np.zeros((s, s), np.uint8)
        lumen = np.zeros((s, s), np.uint8)
        wall = np.zeros((s, s), np.uint8)
        self.hila = {}
        for name, side in self.lung_sides.items():
            bx, by, bw, bh = cv2.boundingRect(side)
            if bw == 0:
                continue
            sign = -1 if name == 'right' else 1
            inner = bx + bw - 1 if sign < 0 else bx
            hilum = np.array([inner + sign * 0.035 * s, cy - 0.02 * s])
            self.hila[name] = hilum
            # Vessel centres: uniform in the lung (rejection sampling in its box).
            cand = rng.uniform(0, 1, (400, 2)) * [bw, bh] + [bx, by]
            cand = cand[side[cand[:, 1].astype(int), cand[:, 0].astype(int)] > 0]
            pts = cand[: int(rng.integers(45, 70))]
            n = len(pts)
            if n == 0:
                continue
            dist = np.linalg.norm(pts - hilum, axis=1)
            rel = 1 - dist / max(1.0, dist.max())
            radii = s * (0.0022 + 0.008 * rel ** 1.5) * rng.uniform(0.7, 1.3, n)
            for (px, py), r in zip(pts, radii):
                _ellipse(vessel, px, py, r, r * rng.uniform(0.8, 1.0), 255,
                         angle=rng.uniform(0, np.pi), line=cv2.LINE_AA)
            # In-plane branches radiating from the hilum.
            for _ in range(int(rng.integers(3, 6))):
                p = hilum.copy()
                target = pts[rng.integers(0, n)]
                thick = 0.0065 * s
                for _ in range(int(rng.integers(2, 4))):
                    q = p + (target - p) * rng.uniform(0.35, 0.6) + rng.normal(0, 0.01 * s, 2)
                    cv2.line(vessel, _ipt(p), _ipt(q),
                             255, max(1, int(round(thick))), cv2.LINE_AA)
                    p, thick = q, thick * 0.65
            # Bronchi beside the central vessels (bronchovascular bundles).
            central = np.argsort(dist)[: int(rng.integers(4, 9))]
            for i in central:
                r = s * rng.uniform(0.004, 0.009) * (0.6 + 0.6 * rel[i])
                off = rng.normal(0, 1, 2)
                off = off / (np.linalg.norm(off) + 1e-6) * (radii[i] + r + 1)
                bx, by = pts[i] + off
                _ellipse(lumen, bx, by, r, r, 255, line=cv2.LINE_AA)
                _ellipse(wall, bx, by, r + 0.0025 * s, r + 0.0025 * s, 255,
                         thickness=max(1, int(round(0.003 * s))), line=cv2.LINE_AA)
        vessel &= self.lung * 255
        _blend(self.hu, vessel, HU_BLOOD)
        _blend(self.hu, wall & (self.lung * 255), HU_MUSCLE)
        _blend(self.hu, lumen & (self.lung * 255), HU_AIR)

    def _draw_central_airways(self, cx: float, cy: float) -> None:
        s, z = self.s, self.z
        lumen = np.zeros((s, s), np.uint8)
        if z > 0.6:  # trachea
            _ellipse(lumen, cx, cy - 0.08 * s, 0.03 * s, 0.026 * s, 255, line=cv2.LINE_AA)
        elif z > 0.45:  # main bronchi below the carina
            for side in (-1, 1):
                _ellipse(lumen, cx + side * 0.04 * s, cy - 0.055 * s, 0.017 * s, 0.015 * s,
                         255, line=cv2.LINE_AA)
        if lumen.any():
            wall = cv2.dilate(lumen, np.ones((3, 3), np.uint8),
                              iterations=max(1, int(0.005 * s)))
            _blend(self.hu, wall, HU_MUSCLE)
            _blend(self.hu, lumen, HU_AIR)

    # ------------------------------------------------------------------ lesions
    def _contour(self, side: str) -> np.ndarray:
        """Ordered pleural boundary points (N, 2) as (x, y) of one lung."""
        contours, _ = cv2.findContours(self.lung_sides[side], cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_NONE)
        if not contours:
            return np.zeros((0, 2), np.float64)
        return max(contours, key=len)[:, 0, :].astype(np.float64)

    def _pleural_point(self, contour: np.ndarray, posterior: float,
                       lateral: float) -> int:
        """Index of a boundary point, biased to posterior and lateral pleura."""
        x, y = contour[:, 0], contour[:, 1]
        yr = (y - y.min()) / max(1.0, np.ptp(y))
        xr = np.abs(x - self.a.cx * self.s)
        xr = (xr - xr.min()) / max(1.0, np.ptp(xr))
        # Lesions lie on the costal pleura, not on the mediastinal border.
        w = (1 + posterior * yr) * (0.15 + lateral * xr) * np.where(xr < 0.3, 0.02, 1.0)
        return int(self.rng.choice(len(contour), p=w / w.sum()))

    def _paint(self, region: np.ndarray, box: Tuple[slice, slice], kind: str, hu: float,
               texture_hu: float, feather: float) -> int:
        """Paint one lesion component into the HU image and the lesion-code map.

        Args:
            region: (h, w) uint8 0/1 mask of the component inside ``box``, already
                restricted to the lung.
            box: (rows, cols) slices of the crop in the full image.
            kind: 'ggo' (raises the density, vessels stay visible) or 'consolidation'
                (replaces the parenchyma, vessels vanish).
            hu: mean density of the lesion.
            texture_hu: amplitude of its mottled texture.
            feather: pixels over which the contrast ramps up inside the edge (the mask
                keeps every painted pixel, so it matches the drawing exactly).

        Returns:
            Number of pixels painted.
        """
        area = int(region.sum())
        if area == 0:
            return 0
        crop = self.hu[box]
        tex = self.texture[box] - 0.5
        target = hu + texture_hu * tex
        if feather > 0:
            dist = cv2.distanceTransform(np.pad(region, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
            alpha = np.minimum(1.0, 0.45 + 0.55 * dist / feather)
        else:
            alpha = np.ones(region.shape, np.float32)
        if kind == 'ggo':
            new = np.maximum(crop, crop + alpha * (target - crop))
            code = MASK_GGO
        else:
            new = crop + alpha * (target - crop)
            code = MASK_CONSOLIDATION
        inside = region > 0
        crop[inside] = new[inside]
        codes = self.lesion_code[box]
        codes[inside] = np.maximum(codes[inside], code)
        return area

    def _blob(self, centre: np.ndarray, radius: float, aspect: float, angle: float,
              irregular: float, box: Optional[Tuple[slice, slice]] = None
              ) -> Tuple[np.ndarray, Tuple[slice, slice]]:
        """Irregular rounded patch clipped to the lung, drawn in ``box`` (default: its
        own bounding box): (region, box)."""
        s = self.s
        h = np.stack([self.rng.uniform(0, irregular, 3), self.rng.uniform(0, 2 * np.pi, 3)], 1)
        if box is None:
            ext = radius * max(aspect, 1 / aspect) * (1 + 3 * irregular) + 2
            x0, x1 = int(max(0, centre[0] - ext)), int(min(s, centre[0] + ext + 1))
            y0, y1 = int(max(0, centre[1] - ext)), int(min(s, centre[1] + ext + 1))
            box = np.s_[y0:y1, x0:x1]
        y0, y1, x0, x1 = box[0].start, box[0].stop, box[1].start, box[1].stop
        region = np.zeros((max(0, y1 - y0), max(0, x1 - x0)), np.uint8)
        if region.size:
            pts = _outline(centre[0] - x0, centre[1] - y0, radius * aspect, radius / aspect,
                           h, n=48, angle=angle)
            _fill(region, pts)
            # One solid lesion: a thin neck of the lung must not leave specks of it.
            region = _largest_component(region & self.lung[box])
        return region, box

    def covid(self, hard: bool) -> None:
        """Multifocal, mostly bilateral, peripheral GGO, some with consolidation."""
        s, rng = self.s, self.rng
        if hard:
            n = int(rng.integers(1, 3))
            sides = list(rng.choice(['right', 'left'], n, replace=False))
        else:
            n = int(rng.integers(2, 7))
            if rng.random() < 0.85:  # bilateral: at least one patch in each lung
                sides = ['right', 'left'] + list(rng.choice(['right', 'left'], n - 2))
            else:
                sides = [str(rng.choice(['right', 'left']))] * n
        placed: List[Tuple[np.ndarray, float]] = []
        for side in sides:
            contour = self._contour(side)
            if len(contour) < 8:
                continue
            radius = s * (rng.uniform(0.022, 0.032) if hard else rng.uniform(0.03, 0.065))
            hu = rng.uniform(-730, -660) if hard else rng.uniform(-640, -430)
            for _ in range(8):  # retry where a concave lung leaves the patch outside
                p = contour[self._pleural_point(contour, posterior=2.0, lateral=1.0)]
                inward = self.lung_centroids[side] - p
                inward /= np.linalg.norm(inward) + 1e-6
                centre = p + inward * radius * rng.uniform(0.3, 0.9)
                # Multifocal: keep the patches apart (most tries find a free spot).
                if any(np.linalg.norm(centre - c) < 1.3 * (radius + r) for c, r in placed):
                    continue
                aspect = rng.uniform(0.7, 1.4)
                region, box = self._blob(centre, radius, aspect, rng.uniform(0, np.pi), 0.1)
                if region.sum() >= 0.5 * np.pi * radius ** 2:
                    break
            else:
                continue
            placed.append((centre, radius))
            if not hard and rng.random() < 0.3:  # crazy paving: thickened septa
                lines = np.zeros_like(region)
                h, w = region.shape
                step = max(3, int(0.018 * s))
                for k in range(-h, w + h, step):
                    off = rng.integers(-2, 3)
                    cv2.line(lines, (k + off, 0), (k - h // 3 + off, h), 1, 1)
                    cv2.line(lines, (0, k), (w, k + w // 4 + off), 1, 1)
                self.hu[box][(lines & region) > 0] += 110
            area = self._paint(region, box, 'ggo', hu, 70, feather=0.006 * s)
            kind = 'ggo'
            if not hard and rng.random() < 0.35:  # consolidation core
                core, _ = self._blob(centre, radius * rng.uniform(0.35, 0.6),
                                     rng.uniform(0.7, 1.4), rng.uniform(0, np.pi), 0.12, box)
                core &= region
                self._paint(core, box, 'consolidation', rng.uniform(-250, -20), 60,
                            feather=0.004 * s)
                kind = 'ggo' if core.sum() < region.sum() / 2 else 'consolidation'
            self.lesions.append(Lesion(kind, side, area))

    def cp(self, hard: bool) -> None:
        """Mostly unilateral lobar/segmental consolidation with air bronchograms."""
        s, rng = self.s, self.rng
        first = str(rng.choice(['right', 'left']))
        other = 'left' if first == 'right' else 'right'
        if hard:
            sides = [first]
        elif rng.random() < 0.8:
            sides = [first]
        else:
            sides = [first, first if rng.random() < 0.7 else other]
        for side in sides:
            contour = self._contour(side)
            hilum = self.hila.get(side)
            if len(contour) < 16 or hilum is None:
                continue
            n = len(contour)
            frac = rng.uniform(0.05, 0.08) if hard else rng.uniform(0.12, 0.28)
            k = max(4, int(frac * n))
            start = self._pleural_point(contour, posterior=3.0, lateral=0.6)
            arc = contour[np.arange(start, start + k) % n]
            mid = arc[len(arc) // 2]
            depth = rng.uniform(0.3, 0.45) if hard else rng.uniform(0.45, 0.8)
            apex = mid + (hilum - mid) * depth
            # Inner margin: a curve from one end of the pleural base through the apex
            # to the other (a lobe or segment), made irregular by smooth wobble.
            t = np.linspace(0, 1, 24)[:, None]
            inner = ((1 - t) ** 2 * arc[-1] + 2 * t * (1 - t) * (2 * apex - (arc[0] + arc[-1]) / 2)
                     + t ** 2 * arc[0])
            normal = np.gradient(inner, axis=0)[:, ::-1] * [1, -1]
            normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-6
            wobble = sum(rng.uniform(0, 0.012 * s) * np.sin(np.pi * f * t + rng.uniform(0, 6.3))
                         for f in (2, 3, 5))
            poly = np.vstack([arc, inner + normal * wobble])
            x0, y0 = np.floor(poly.min(0)).astype(int) - 2
            x1, y1 = np.ceil(poly.max(0)).astype(int) + 3
            x0, y0, x1, y1 = max(0, x0), max(0, y0), min(s, x1), min(s, y1)
            box = np.s_[y0:y1, x0:x1]
            region = np.zeros((y1 - y0, x1 - x0), np.uint8)
            pts = np.round((poly - [x0, y0]) * (1 << SHIFT)).astype(np.int32)
            _fill(region, pts)
            region = _largest_component(_smooth_mask(region, 0.006 * s) & self.lung[box])
            if region.sum() == 0:
                continue
            if hard:
                hu = rng.uniform(-330, -150)
            else:
                hu = rng.uniform(-120, 30)
            if not hard and rng.random() < 0.4:  # GGO halo around the consolidation
                r = max(1, int(rng.uniform(0.006, 0.014) * s))
                pad = r + 1
                big = cv2.dilate(np.pad(region, pad),
                                 cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
                by0, bx0 = y0 - pad, x0 - pad
                cy0, cx0 = max(0, by0), max(0, bx0)
                cy1, cx1 = min(s, by0 + big.shape[0]), min(s, bx0 + big.shape[1])
                halo_box = np.s_[cy0:cy1, cx0:cx1]
                halo = big[cy0 - by0: cy1 - by0, cx0 - bx0: cx1 - bx0] & self.lung[halo_box]
                # Only the part of the halo attached to its consolidation.
                inner = np.zeros_like(halo)
                inner[y0 - cy0: y1 - cy0, x0 - cx0: x1 - cx0] = region
                halo = _largest_component(halo | inner) & (1 - inner)
                self._paint(halo, halo_box, 'ggo', rng.uniform(-650, -520), 60,
                            feather=0.004 * s)
            area = self._paint(region, box, 'consolidation', hu, 50, feather=0.003 * s)
            if not hard:
                self._air_bronchograms(region, box, apex - [x0, y0], arc - [x0, y0])
            self.lesions.append(Lesion('consolidation', side, area))

    def _air_bronchograms(self, region: np.ndarray, box: Tuple[slice, slice],
                          apex: np.ndarray, arc: np.ndarray) -> None:
        """Dark branching airways inside a consolidation (kept off its edge)."""
        s, rng = self.s, self.rng
        tubes = np.zeros_like(region)
        for _ in range(int(rng.integers(2, 4))):
            p = apex + (arc[len(arc) // 2] - apex) * 0.1
            target = arc[rng.integers(0, len(arc))]
            thick = 0.0045 * s
            for _ in range(3):  # tapering and branching towards the pleura
                q = p + (target - p) * rng.uniform(0.3, 0.45) + rng.normal(0, 0.005 * s, 2)
                w = max(1, int(round(thick)))
                cv2.line(tubes, _ipt(p), _ipt(q),
                         200, w, cv2.LINE_AA)
                if rng.random() < 0.5:
                    side = q + (arc[rng.integers(0, len(arc))] - q) * 0.3
                    cv2.line(tubes, _ipt(q), _ipt(side), 160, max(1, w - 1), cv2.LINE_AA)
                p, thick = q, thick * 0.75
        margin = max(2, int(round(0.008 * s)))
        core = cv2.erode(region, np.ones((3, 3), np.uint8), iterations=margin)
        tubes[core == 0] = 0
        _blend(self.hu[box], tubes, -900.0)

    # ------------------------------------------------------------------ output
    def finish(self) -> Tuple[np.ndarray, np.ndarray, Tuple[int, int, int, int]]:
        """Noise, lung window and mask.

        Returns:
            image (s, s) uint8 in the lung window, mask (s, s) uint8 with values 0-3,
            body box (xmin, ymin, xmax, ymax) with exclusive max.
        """
        s = self.s
        ksize, sigma, gain = _noise_kernel(s)
        noise = self.rng.standard_normal((s, s), dtype=np.float32)
        noise = cv2.GaussianBlur(noise, (ksize, ksize), sigma)
        hu = self.hu + noise * np.float32(self.a.noise_hu * np.sqrt(gain))
        self.hu_final = hu  # what the image shows, in HU (whole-scan phantoms store it)
        level, width = LUNG_WINDOW
        scale = 255.0 / width
        img = np.clip(hu * scale + (0.5 - (level - width / 2) * scale), 0, 255)
        img = img.astype(np.uint8)
        mask = self.lung.copy()  # 0 background, 1 lung field
        lesion = self.lesion_code > 0
        mask[lesion] = self.lesion_code[lesion]
        x, y, w, h = cv2.boundingRect(self.body)
        return img, mask, (x, y, x + w, y + h)


def draw_slice(size: int, anatomy: Anatomy, z: float, pattern: str, hard: bool,
               rng: np.random.Generator) -> SliceRenderer:
    """Draw one slice: anatomy, lesions of ``pattern`` (see :func:`render_slice`), noise.

    Returns:
        The finished renderer: ``img``, ``mask``, ``box`` (what :meth:`SliceRenderer.finish`
        returns), ``lesions``, ``hu_final`` (the image in HU) and ``lung_sides``.
    """
    r = SliceRenderer(size, anatomy, z, rng)
    r.draw_anatomy()
    grid = 24
    r.texture = cv2.resize(rng.random((grid, grid), dtype=np.float32), (size, size),
                           interpolation=cv2.INTER_CUBIC)
    if pattern == 'covid':
        r.covid(hard)
    elif pattern == 'cp':
        r.cp(hard)
    elif pattern not in ('normal', 'empty'):
        raise ValueError(f'unknown lesion pattern {pattern!r}; expected normal, empty, '
                         'covid or cp')
    r.img, r.mask, r.box = r.finish()
    return r


def render_slice(size: int, anatomy: Anatomy, z: float, pattern: str, hard: bool,
                 rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray,
                                                    Tuple[int, int, int, int], List[Lesion]]:
    """Render one slice.

    Args:
        size: image side in pixels.
        anatomy: the patient's body.
        z: cranio-caudal position in [0, 1].
        pattern: 'normal', 'covid' or 'cp' (lesions of that class), 'empty' (a
            lesion-free slice of a positive patient, drawn like 'normal').
        hard: draw the hard variant of the pattern.
        rng: the slice's random stream.

    Returns:
        image (size, size) uint8, mask (size, size) uint8 in {0, 1, 2, 3},
        body box (xmin, ymin, xmax, ymax) exclusive max, list of drawn lesions.
    """
    r = draw_slice(size, anatomy, z, pattern, hard, rng)
    return r.img, r.mask, r.box, r.lesions
