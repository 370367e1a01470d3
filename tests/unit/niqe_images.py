"""Test images for the NIQE golden numbers, rebuilt from a recipe (the images are never stored).

A recipe is ``{"name", "source", "ops"}``: ``source`` is a scikit-image photograph name (gray ones stacked to RGB),
``"texture:<seed>:<h>:<w>"`` (blurred high-contrast random texture) or ``"ramp:<seed>:<h>:<w>"`` (a smooth ramp
with flat saturated patches and mild noise: the hard case for float32 vs float64); ``ops`` is a list of
``[op, *args]`` applied in order: ``["blur", sigma]`` (Gaussian, reflect border), ``["jpeg", quality]`` (OpenCV
encode/decode), ``["downup", factor]`` (OpenCV area shrink then bicubic back to the original size), ``["noise", sigma,
seed]`` (additive Gaussian), ``["crop", h, w]`` (top-left crop).

Imported both by tests/unit/test_metrics_niqe_variants.py and by benchmarks/reference_check/make_niqe_golden.py,
which runs in the reference environment: this module imports only numpy, scipy, OpenCV and scikit-image (never
``gfpgan``, which is another package there).
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
from scipy import ndimage

__all__ = ["RECIPES", "image_digest", "make_image"]

RECIPES: list[dict] = [
    *(
        {"name": name, "source": name, "ops": []}
        for name in (
            "astronaut",
            "camera",
            "chelsea",
            "coffee",
            "rocket",
            "coins",
            "moon",
            "immunohistochemistry",
            "hubble_deep_field",
            "colorwheel",
            "page",
            "text",
            "clock",
            "brick",
        )
    ),  # fmt: skip
    {"name": "texture", "source": "texture:1:256:320", "ops": []},
    {"name": "ramp_flat", "source": "ramp:2:288:384", "ops": []},
    {"name": "coffee_blur2", "source": "coffee", "ops": [["blur", 2.0]]},
    {"name": "astronaut_blur1.2", "source": "astronaut", "ops": [["blur", 1.2]]},
    {"name": "astronaut_jpeg15", "source": "astronaut", "ops": [["jpeg", 15]]},
    {"name": "chelsea_jpeg40", "source": "chelsea", "ops": [["jpeg", 40]]},
    {"name": "rocket_downup4", "source": "rocket", "ops": [["downup", 4]]},
    {"name": "coffee_downup2", "source": "coffee", "ops": [["downup", 2]]},
    {"name": "camera_noise10", "source": "camera", "ops": [["noise", 10.0, 3]]},
    {"name": "texture_blur_jpeg", "source": "texture:4:224:288", "ops": [["blur", 1.5], ["jpeg", 30]]},
    {
        "name": "astronaut_face_degraded",
        "source": "astronaut",
        "ops": [
            ["crop", 288, 384],
            ["blur", 1.6],
            ["downup", 4],
            ["noise", 6.0, 5],
            ["jpeg", 50],
        ],
    },  # fmt: skip
]


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _source(spec: str) -> np.ndarray:
    if spec.startswith(("texture:", "ramp:")):
        kind, seed, h, w = spec.split(":")
        rng = np.random.default_rng(int(seed))
        h, w = int(h), int(w)
        if kind == "texture":
            base = ndimage.gaussian_filter(rng.integers(0, 256, (h, w, 3)).astype(np.float64), (1.5, 1.5, 0))
            return _to_uint8((base - 128) * 3 + 128)
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        ramp = 255 * (0.2 + 0.9 * xx + 0.3 * yy)[..., None] * np.array([1.0, 0.8, 0.6])
        ramp[h // 4 : h // 2, w // 5 : w // 2] = 255.0  # saturated patch
        ramp[(2 * h) // 3 :, (3 * w) // 5 :] = 0.0  # black patch
        return _to_uint8(ramp + rng.normal(0, 2.0, (h, w, 3)))
    from skimage import data  # photographs shipped with scikit-image (no download)

    img = getattr(data, spec)()
    return np.stack([img] * 3, axis=-1) if img.ndim == 2 else img[..., :3]


def _apply(img: np.ndarray, op: list) -> np.ndarray:
    name, *args = op
    if name == "blur":
        return _to_uint8(ndimage.gaussian_filter(img.astype(np.float64), (args[0], args[0], 0), mode="reflect"))
    if name == "jpeg":
        ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(args[0])])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    if name == "downup":
        h, w = img.shape[:2]
        small = cv2.resize(img, (w // args[0], h // args[0]), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    if name == "noise":
        sigma, seed = args
        return _to_uint8(img + np.random.default_rng(seed).normal(0, sigma, img.shape))
    if name == "crop":
        return img[: args[0], : args[1]]
    raise ValueError(f"unknown image op {name!r} in a NIQE test recipe")


def make_image(recipe: dict) -> np.ndarray:
    """(H,W,3) uint8 RGB image of a recipe (see the module docstring)."""
    img = _source(recipe["source"])
    for op in recipe["ops"]:
        img = _apply(img, op)
    return np.ascontiguousarray(img)


def image_digest(img: np.ndarray) -> str:
    """sha256 of shape and bytes: the golden file records it, so a library that rebuilds an image differently (e.g.
    another JPEG codec) is reported as such rather than as a NIQE difference."""
    return hashlib.sha256(f"{img.shape}".encode() + np.ascontiguousarray(img).tobytes()).hexdigest()
