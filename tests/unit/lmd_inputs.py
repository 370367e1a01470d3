"""Deterministic AWing FAN weights and images for the LMD goldens, shared by tests/unit/test_metrics_lmd.py and
benchmarks/reference_check/make_awing_golden.py (which records the goldens from facexlib). Imports only numpy, OpenCV
and torch, so it runs in the reference environment too."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from face_model_inputs import seeded_state  # same folder (tests/unit), on sys.path for its users

SEED = 20250114
# (height, width) of the golden images: two 512x512 (the size of the face test sets; a pair for LMD) and a
# non-square one (x and y scale differently)
IMAGE_SIZES = ((512, 512), (512, 512), (200, 320))
CONV_GAIN = 1.0  # multiplies the unit-variance-preserving convolution scale
# Random networks are dominated by the CoordConv coordinate maps (every image would get nearly the same landmarks):
# the stem's image weights are scaled up and every coordinate-map weight down, so that about a third of the landmarks
# follow the image (the rest sit where the random network's border effects put them).
IMAGE_GAIN, COORD_GAIN = 30.0, 0.02


def fill_state(state: dict[str, torch.Tensor], seed: int = SEED) -> dict[str, torch.Tensor]:
    """Deterministic stand-in weights (``face_model_inputs.seeded_state``: BatchNorm scales ~ U(0.5, 1.0), convolutions
    ~ N(0, 1/fan_in) * CONV_GAIN), then the stem's image weights scaled up and the coordinate-map weights down."""
    out = seeded_state(state, seed, bn_scale=(0.5, 1.0), conv_gain=CONV_GAIN)
    for key, weight in out.items():
        if key.endswith("conv.weight") and (key.startswith("conv1.") or ".coordconv." in key):
            first_coord = 3 if key.startswith("conv1.") else 256  # the input channels, then the coordinate maps
            weight[:, :first_coord] *= IMAGE_GAIN if key.startswith("conv1.") else 1.0
            weight[:, first_coord:] *= COORD_GAIN
    return out


def golden_images(seed: int = SEED) -> list[np.ndarray]:
    """One (h,w,3) uint8 **RGB** image per entry of IMAGE_SIZES: blurred random blobs on a smooth gradient."""
    rng = np.random.default_rng(seed + 1)
    out = []
    for h, w in IMAGE_SIZES:
        noise = rng.uniform(0, 255, (h, w, 3))
        blobs = cv2.GaussianBlur(noise, (0, 0), max(h, w) / 40)
        ramp = np.linspace(0, 60, w)[None, :, None] + np.linspace(0, 40, h)[:, None, None]
        img = (blobs - blobs.mean()) * 6 + 100 + ramp
        out.append(np.clip(np.round(img), 0, 255).astype(np.uint8))
    return out


# Heatmap sets for the decoding alone (``calculate_points`` against ``decode_landmarks``): (case seed, image height,
# image width, where the peaks go). "interior": no argmax on the border rows (the reference's edge rules stay off);
# "top" / "bottom": one landmark's peak on the first / last row (the rule switches every landmark's y neighbour);
# "left": peaks in the first column (the x neighbour wraps to the previous row); "ties": flat heatmaps with
# equal neighbours (sign 0).
DECODE_CASES = (
    (1, 512, 512, "interior"),
    (2, 512, 512, "top"),
    (3, 200, 320, "bottom"),
    (4, 256, 256, "left"),
    (5, 100, 80, "ties"),
)


def decode_heatmaps(seed: int, kind: str, num: int = 98, size: int = 64) -> np.ndarray:
    """(1,num,size,size) float32 heatmaps with one clear peak per landmark, placed as ``kind`` says (never at the last
    pixel, where the reference fails)."""
    rng = np.random.default_rng(seed)
    maps = rng.normal(0.0, 0.05, (1, num, size, size)).astype(np.float32)
    rows = rng.integers(1, size - 1, num)
    cols = rng.integers(1, size - 1, num)
    if kind == "top":
        rows[num // 2] = 0
    elif kind == "bottom":
        rows[num // 3] = size - 1
        cols[num // 3] = min(cols[num // 3], size - 2)
    elif kind == "left":
        cols[::2] = 0
    elif kind == "ties":
        maps[:] = 0.0
    maps[0, np.arange(num), rows, cols] = 1.0 + rng.uniform(0, 1, num).astype(np.float32)
    return maps
