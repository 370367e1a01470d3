"""Seeded procedural face images, so training, evaluation and the tests run without downloading FFHQ.

Each face is drawn from its own generator ``default_rng([seed, index])``: background, hair (with strands), neck and
clothes, ears, a shaded face with skin texture and blush, brows, almond eyes with iris, pupil and highlight, a shaded
nose with nostrils, lips with an optional open smile showing teeth, global lighting and film grain. The layout follows
FFHQ's alignment (eyes at ~47% height, mouth at ~72%), so the same component boxes convention applies.

Rendering is vectorised (OpenCV primitives + numpy compositing), supersampled 2x (at least 64 px) below 128 px
and area-downsampled, so 32-64 px faces stay recognisable. The written components are exact: ``[cx, cy, half_len]``
per eye/mouth in the output image's pixel coordinates (pixel centres at integers), half_len following the official
rule (half the feature width, at least 16 px at 512 scale).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gfpgan.data.components import save_components
from gfpgan.utils.files import atomic_imwrite, atomic_write, publish_dir

__all__ = ["ensure_synthetic_faces", "make_synthetic_faces", "render_face"]

_META = "synthetic.json"
_VERSION = 1
_SHIFT = 4  # sub-pixel bits for cv2 drawing
_ONE = 1 << _SHIFT

# RGB palettes in [0, 1]
_SKIN = np.array([[255, 224, 196], [241, 194, 160], [224, 172, 130], [198, 134, 90], [141, 85, 54], [92, 56, 38]],
                 np.float32) / 255  # fmt: skip
_HAIR = np.array([[20, 16, 14], [55, 36, 24], [100, 64, 38], [160, 112, 60], [215, 180, 120], [140, 60, 30],
                  [170, 170, 170], [235, 235, 230]], np.float32) / 255  # fmt: skip
_IRIS = np.array([[70, 45, 25], [110, 70, 35], [60, 110, 160], [80, 130, 90], [130, 110, 60], [40, 30, 25]],
                 np.float32) / 255  # fmt: skip


class _Canvas:
    """Render-resolution helpers: coordinates are normalised (0..1 across the image)."""

    def __init__(self, size: int) -> None:
        self.n = size
        ax = (np.arange(size, dtype=np.float32) + 0.5) / size
        self.x, self.y = np.meshgrid(ax, ax)

    def p(self, u: float) -> int:  # normalised coordinate -> fixed-point pixel coordinate (pixel centres at i + 0.5)
        return int(round((u * self.n - 0.5) * _ONE))

    def d(self, u: float) -> int:  # normalised length -> fixed-point pixels
        return max(int(round(u * self.n * _ONE)), 1)

    def blank(self) -> np.ndarray:
        return np.zeros((self.n, self.n), np.uint8)

    def ellipse(self, cx, cy, ax, ay, angle=0.0, start=0.0, end=360.0, thickness=-1) -> np.ndarray:
        m = self.blank()
        t = thickness if thickness < 0 else max(int(round(thickness * self.n)), 1)
        cv2.ellipse(m, (self.p(cx), self.p(cy)), (self.d(ax), self.d(ay)), angle, start, end, 255, t, cv2.LINE_AA,
                    _SHIFT)  # fmt: skip
        return m.astype(np.float32) / 255

    def poly(self, pts: np.ndarray) -> np.ndarray:
        m = self.blank()
        q = np.round((np.asarray(pts) * self.n - 0.5) * _ONE).astype(np.int32)
        cv2.fillPoly(m, [q], 255, cv2.LINE_AA, _SHIFT)
        return m.astype(np.float32) / 255

    def polyline(self, pts: np.ndarray, thickness: float) -> np.ndarray:
        m = self.blank()
        q = np.round((np.asarray(pts) * self.n - 0.5) * _ONE).astype(np.int32)
        cv2.polylines(m, [q], False, 255, max(int(round(thickness * self.n)), 1), cv2.LINE_AA, _SHIFT)
        return m.astype(np.float32) / 255

    def blur(self, a: np.ndarray, sigma: float) -> np.ndarray:
        s = max(sigma * self.n, 0.3)
        return cv2.GaussianBlur(a, (0, 0), s)


def _comp(img: np.ndarray, mask: np.ndarray, color: np.ndarray | float) -> None:
    """In place: img = img * (1 - mask) + color * mask."""
    m = mask[:, :, None]
    img *= 1 - m
    img += np.asarray(color, np.float32) * m


def _noise(rng: np.random.Generator, n: int, sigma_px: float, anisotropic: tuple[float, float] | None = None):
    z = rng.standard_normal((n, n), dtype=np.float32)
    if anisotropic is not None:
        z = cv2.GaussianBlur(z, (0, 0), sigmaX=anisotropic[0] * n, sigmaY=anisotropic[1] * n)
    elif sigma_px > 0:
        z = cv2.GaussianBlur(z, (0, 0), sigma_px)
    return z / (z.std() + 1e-6)


def _arc(cx: float, cy: float, half_w: float, height: float, n: int = 16) -> np.ndarray:
    t = np.linspace(-1, 1, n)
    return np.stack([cx + t * half_w, cy - height * (1 - t * t)], axis=1)


def render_face(rng: np.random.Generator, size: int) -> tuple[np.ndarray, dict[str, tuple[float, float, float]]]:
    """Draw one face. Returns ``((size, size, 3) uint8 BGR, components)`` with components ``{part: (cx, cy, half_len)}``
    in output pixel coordinates."""
    n = max(2 * size, 64) if size <= 64 else size  # supersampled below 128 px
    cv = _Canvas(n)
    x, y = cv.x, cv.y
    u = rng.uniform

    # ---- parameters -----------------------------------------------------------------------------------------------
    skin_t = u(0, len(_SKIN) - 1)
    lo = int(skin_t)
    skin = _SKIN[lo] + (_SKIN[min(lo + 1, len(_SKIN) - 1)] - _SKIN[lo]) * (skin_t - lo)
    skin = np.clip(skin * u(0.92, 1.08, 3).astype(np.float32), 0, 1)
    hair = np.clip(_HAIR[rng.integers(len(_HAIR))] * u(0.94, 1.06, 3).astype(np.float32), 0, 1)
    iris = _IRIS[rng.integers(len(_IRIS))]
    fx, fy = 0.5 + u(-0.015, 0.015), 0.53 + u(-0.015, 0.015)  # face centre
    fa, fb = u(0.22, 0.27), u(0.30, 0.35)  # face half width / height
    jaw = u(0.15, 0.45)  # chin narrowing
    eye_y = 0.47 + u(-0.015, 0.015)
    eye_dx = u(0.115, 0.135)
    eye_w, eye_h = u(0.042, 0.055), u(0.016, 0.026)
    mouth_y = 0.725 + u(-0.02, 0.015)
    mouth_w = u(0.075, 0.105)
    smile = u(-0.004, 0.02)
    open_mouth = rng.random() < 0.35
    hair_len = u(0.0, 1.0)  # 0 short .. 1 long
    hairline = u(0.22, 0.30)
    light = np.array([u(-0.7, 0.7), u(-0.8, 0.2), 1.0], np.float32)
    light /= np.linalg.norm(light)

    # ---- background ------------------------------------------------------------------------------------------------
    bg1, bg2 = u(0.1, 0.95, 3).astype(np.float32), u(0.1, 0.95, 3).astype(np.float32)
    g_dir = u(0, 2 * np.pi)
    t = (np.cos(g_dir) * (x - 0.5) + np.sin(g_dir) * (y - 0.5) + 0.5)[:, :, None]
    img = bg1 * (1 - t) + bg2 * t
    img += (0.06 * _noise(rng, n, n * 0.04))[:, :, None] * u(0.3, 1.0, 3).astype(np.float32)
    img = img.astype(np.float32)

    # ---- hair behind the head, neck, clothes, ears ---------------------------------------------------------------
    back = cv.ellipse(fx, fy - 0.06, fa + u(0.04, 0.08), fb + 0.02 + 0.1 * hair_len, 0)
    if hair_len > 0.45:  # long hair falls to the shoulders
        back = np.maximum(back, cv.poly(np.array([[fx - fa - 0.07, fy - 0.1], [fx + fa + 0.07, fy - 0.1],
                                                  [fx + fa + 0.1, 0.7 + 0.3 * hair_len], [fx - fa - 0.1,
                                                  0.7 + 0.3 * hair_len]])))  # fmt: skip
        back = cv.blur(back, 0.004)
    strands = _noise(rng, n, 0, anisotropic=(0.002, 0.03))
    hair_tex = hair * (1 + 0.18 * strands[:, :, None]) * (0.85 + 0.3 * (1 - y[:, :, None]))
    _comp(img, back, hair_tex * 0.8)
    shade = np.float32(0.82)
    neck = cv.poly(np.array([[fx - 0.11, fy + 0.2], [fx + 0.11, fy + 0.2], [fx + 0.12, 1.0], [fx - 0.12, 1.0]]))
    _comp(img, neck, skin * shade * (1 - 0.25 * np.clip((y[:, :, None] - fy - 0.2) * -8 + 1, 0, 1)))
    cloth = u(0.05, 0.9, 3).astype(np.float32)
    cloth_tex = cloth * (0.93 + 0.07 * _noise(rng, n, n / 256))[:, :, None]
    _comp(img, cv.ellipse(fx, 1.08, 0.42, 0.2 + u(0, 0.05)), cloth_tex)
    for side in (-1, 1):
        _comp(img, cv.ellipse(fx + side * (fa + 0.005), eye_y + 0.06, 0.03, 0.06, side * 10), skin * 0.88)

    # ---- face with shading and skin texture ------------------------------------------------------------------------
    th = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    sx, sy = np.sin(th), -np.cos(th)  # starts at the top, clockwise
    narrowing = 1 - jaw * np.clip(sy, 0, 1) ** 2
    outline = np.stack([fx + fa * sx * narrowing, fy + fb * sy], axis=1)
    face = cv.poly(outline)
    nx = np.clip((x - fx) / (fa * 1.15), -1, 1)
    ny = np.clip((y - fy) / (fb * 1.15), -1, 1)
    nz = np.sqrt(np.clip(1 - nx * nx - ny * ny, 0.05, 1))
    lambert = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0, 1)
    shading = (0.55 + 0.5 * lambert)[:, :, None]
    pores = 0.035 * _noise(rng, n, 0.6)[:, :, None] + 0.03 * _noise(rng, n, n * 0.02)[:, :, None]
    blush = np.zeros((n, n), np.float32)
    for side in (-1, 1):
        blush += np.exp(-(((x - fx - side * 0.12) / 0.05) ** 2 + ((y - 0.62) / 0.04) ** 2))
    blush_col = np.array([0.85, 0.35, 0.35], np.float32)
    skin_map = skin * shading * (1 + pores)
    skin_map += (blush * u(0.0, 0.25))[:, :, None] * (blush_col - skin)
    _comp(img, face, np.clip(skin_map, 0, 1))

    # ---- hair in front (fringe) -------------------------------------------------------------------------------------
    line = hairline + 0.9 * (x - fx) ** 2 / fa + 0.02 * np.sin((x - fx) * u(10, 30))
    front = np.clip((line - y) * n / 2.0, 0, 1) * cv.ellipse(fx, fy - 0.02, fa + 0.02, fb + 0.02)
    _comp(img, front, hair_tex)

    # ---- brows ------------------------------------------------------------------------------------------------------
    brow_col = np.clip(hair * 0.7 + skin * 0.1, 0, 1) if hair.mean() < 0.6 else hair * 0.55
    brow_th = u(0.009, 0.016)
    brow_y = eye_y - u(0.045, 0.06)
    for side in (-1, 1):
        c = fx + side * eye_dx
        pts = _arc(c, brow_y, eye_w * 1.25, u(0.006, 0.016))
        pts[:, 1] += side * np.linspace(-1, 1, len(pts)) * u(-0.008, 0.004)
        _comp(img, cv.polyline(pts, brow_th), brow_col * (0.9 + 0.2 * strands[:, :, None]))

    # ---- eyes -------------------------------------------------------------------------------------------------------
    components: dict[str, tuple[float, float, float]] = {}
    iris_r = eye_h * u(0.85, 1.05)
    look = (u(-0.3, 0.3) * eye_w * 0.4, u(-0.1, 0.1) * eye_h)
    for side, part in ((-1, "left_eye"), (1, "right_eye")):
        c = fx + side * eye_dx
        t = np.linspace(-1, 1, 14)
        upper = np.stack([c + t * eye_w, eye_y - eye_h * (1 - t * t) - 0.1 * eye_h * t * side], axis=1)
        lower = np.stack([c - t * eye_w, eye_y + eye_h * 0.75 * (1 - t * t)], axis=1)
        socket = np.exp(-(((x - c) / (eye_w * 1.4)) ** 2 + ((y - eye_y + 0.01) / (eye_h * 2.2)) ** 2))
        img *= (1 - 0.18 * socket)[:, :, None]
        eye = cv.poly(np.concatenate([upper, lower]))
        _comp(img, eye, np.array([0.93, 0.91, 0.88], np.float32))
        ix, iy = c + look[0], eye_y + look[1]
        iris_mask = cv.ellipse(ix, iy, iris_r, iris_r) * eye
        radial = np.sqrt((x - ix) ** 2 + (y - iy) ** 2) / iris_r
        iris_tex = iris * (0.75 + 0.5 * np.clip(radial, 0, 1))[:, :, None] * (1 + 0.1 * strands[:, :, None])
        _comp(img, iris_mask, iris_tex)
        _comp(img, cv.ellipse(ix, iy, iris_r * 0.45, iris_r * 0.45) * eye, np.float32(0.03))
        _comp(img, cv.ellipse(ix + iris_r * 0.3, iy - iris_r * 0.35, iris_r * 0.2, iris_r * 0.2) * eye, np.float32(1))
        lid = cv.polyline(upper, eye_h * 0.35)
        _comp(img, lid, np.float32(0.08) + skin * 0.1)
        _comp(img, cv.polyline(lower, eye_h * 0.12) * 0.5, skin * 0.55)
        half = max(eye_w * size, 16 * size / 512)
        components[part] = (c * size - 0.5, eye_y * size - 0.5, half)

    # ---- nose --------------------------------------------------------------------------------------------------------
    nose_y = (eye_y + mouth_y) / 2 + u(0.0, 0.02)
    nose_w = u(0.03, 0.045)
    ridge = np.exp(-(((x - fx - 0.02 * light[0]) / 0.012) ** 2)) * np.clip((y - eye_y) / (nose_y - eye_y), 0, 1)
    ridge *= (y < nose_y + 0.01).astype(np.float32)
    img *= (1 + 0.12 * ridge)[:, :, None]
    wing = np.exp(-(((np.abs(x - fx) - nose_w * 0.9) / 0.012) ** 2 + ((y - nose_y) / 0.025) ** 2))
    img *= (1 - 0.25 * wing)[:, :, None]
    under = np.exp(-(((x - fx) / (nose_w * 1.2)) ** 2 + ((y - nose_y - 0.022) / 0.008) ** 2))
    img *= (1 - 0.25 * under)[:, :, None]
    for side in (-1, 1):
        _comp(img, cv.ellipse(fx + side * nose_w * 0.45, nose_y + 0.012, nose_w * 0.28, nose_w * 0.16, side * 20) * 0.8,
              skin * 0.3)  # fmt: skip

    # ---- mouth -----------------------------------------------------------------------------------------------------
    lip = np.clip(skin * np.array([0.85, 0.55, 0.55], np.float32) + np.array([0.1, 0, 0], np.float32), 0, 1)
    lip = lip * u(0.8, 1.0)
    t = np.linspace(-1, 1, 20)
    corner_up = smile * t * t
    gap = u(0.012, 0.025) if open_mouth else 0.0
    mid_top = mouth_y - gap / 2 - corner_up
    mid_bot = mouth_y + gap / 2 * (1 - t * t) - corner_up
    bow = 1 - 0.3 * np.cos(t * 3 * np.pi) ** 2  # cupid's bow
    upper_lip = np.stack([fx + t * mouth_w, mid_top - u(0.012, 0.02) * (1 - t * t) * bow], axis=1)
    lower_lip = np.stack([fx - t * mouth_w, (mid_bot + u(0.015, 0.025) * (1 - t * t))[::-1]], axis=1)
    _comp(img, cv.poly(np.concatenate([upper_lip, lower_lip])), lip * (0.9 + 0.1 * (y[:, :, None] > mouth_y)))
    if open_mouth:
        inner = cv.poly(np.concatenate([np.stack([fx + t * mouth_w * 0.92, mid_top], 1),
                                        np.stack([fx - t * mouth_w * 0.92, mid_bot[::-1]], 1)]))  # fmt: skip
        _comp(img, inner, np.array([0.25, 0.06, 0.06], np.float32))
        teeth = inner * np.clip((mouth_y + gap * 0.1 - y - corner_up.mean()) * n / 1.5 + 1, 0, 1)
        gaps = 1 - 0.25 * np.exp(-((np.mod((x - fx) / (mouth_w * 0.22) + 0.5, 1.0) - 0.5) ** 2) / 0.004)
        _comp(img, teeth, (np.array([0.95, 0.93, 0.86], np.float32) * gaps[:, :, None]))
    else:
        _comp(img, cv.polyline(np.stack([fx + t * mouth_w * 0.95, mid_top], 1), 0.006), lip * 0.35)
    half = max(mouth_w * size, 16 * size / 512)
    components["mouth"] = (fx * size - 0.5, mouth_y * size - 0.5, half)

    # ---- global light, camera blur, grain --------------------------------------------------------------------------
    img *= (1.0 + 0.15 * (light[0] * (x - 0.5) + light[1] * (y - 0.5)))[:, :, None]
    img *= (1 - 0.25 * ((x - 0.5) ** 2 + (y - 0.5) ** 2))[:, :, None]
    img = cv2.GaussianBlur(img, (0, 0), 0.5 * n / 256)
    img += 0.012 * rng.standard_normal(img.shape, dtype=np.float32)
    if size != n:
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    out = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)[:, :, ::-1]
    components = {
        k: (round(float(v[0]), 4), round(float(v[1]), 4), round(float(v[2]), 4)) for k, v in components.items()
    }
    return np.ascontiguousarray(out), components


def _check_size(size: int) -> None:
    if size < 8 or size & (size - 1):
        raise ValueError(f"synthetic faces: size must be a power of two >= 8, got {size}")


def make_synthetic_faces(
    out_dir: str | os.PathLike, num: int, size: int, seed: int = 0, components_file: str = "components.json"
) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Write ``num`` faces ``00000000.png ...`` of ``size`` px to ``out_dir`` plus their components JSON.

    Face ``i`` depends only on ``(seed, i, size)``. Existing complete files are kept (so an interrupted run resumes).
    Returns the components keyed by file stem.
    """
    _check_size(size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    components = {}
    for i in range(num):
        stem = f"{i:08d}"
        img, comps = render_face(np.random.default_rng([seed, i]), size)
        path = out / f"{stem}.png"
        if not path.exists():
            atomic_imwrite(path, img)
        components[stem] = comps
    save_components(components, out / components_file)
    atomic_write(out / _META, json.dumps({"num": num, "size": size, "seed": seed, "version": _VERSION}))
    return components


def _complete(out: Path, num: int, size: int, seed: int) -> bool:
    meta_path = out / _META
    if not meta_path.is_file():
        return False
    meta = json.loads(meta_path.read_text())
    wanted = {"num": num, "size": size, "seed": seed, "version": _VERSION}
    if meta != wanted:
        raise ValueError(
            f"{out}: holds synthetic faces {meta}, but {wanted} were asked for. Use another folder or delete this one."
        )
    return all((out / f"{i:08d}.png").is_file() for i in range(num)) and (out / "components.json").is_file()


def ensure_synthetic_faces(out_dir: str | os.PathLike, num: int, size: int, seed: int = 0) -> Path:
    """Make sure ``out_dir`` holds the ``(num, size, seed)`` synthetic faces; generate them if missing or incomplete.

    Race-safe under several processes: a missing folder is generated in a temporary sibling and renamed into place
    (if another process got there first, its folder is kept); an incomplete folder is completed file by file with
    atomic writes of identical content.
    """
    out = Path(out_dir)
    if out.is_dir() and _complete(out, num, size, seed):
        return out
    if not out.exists():
        publish_dir(out, lambda tmp: make_synthetic_faces(tmp, num, size, seed))
        if _complete(out, num, size, seed):
            return out
    make_synthetic_faces(out, num, size, seed)
    return out


def describe(out_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``synthetic.json`` metadata of a synthetic face folder."""
    return json.loads((Path(out_dir) / _META).read_text())
