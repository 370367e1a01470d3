"""MATLAB-compatible colour conversions for metrics (inputs are RGB, never BGR)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

__all__ = ["rgb_to_gray", "rgb_to_gray_opencv_float32", "rgb_to_y", "rgb_to_y_float32", "rgb_to_y_pt"]

# MATLAB rgb2ycbcr (ITU-R BT.601, studio swing): Y = 16 + (65.481 R + 128.553 G + 24.966 B) with R,G,B in [0,1].
_Y_COEFFS = np.array([65.481, 128.553, 24.966])
# MATLAB rgb2gray: the first row of inv(YIQ matrix), as MATLAB computes it.
_GRAY_COEFFS = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """(H,W,3) RGB in [0,255] (any dtype) -> (H,W) float64 Y of MATLAB ``rgb2ycbcr``, in [16,235], not rounded."""
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H,W,3) RGB image, got shape {img.shape}")
    # cv2.transform: one pass, double precision, y = c_r*R + c_g*G + c_b*B + 16.
    return cv2.transform(img.astype(np.float64), np.append(_Y_COEFFS / 255.0, 16.0)[None])


def rgb_to_y_float32(img: np.ndarray) -> np.ndarray:
    """(H,W,3) RGB in [0,255] -> (H,W) float32 Y of ``rgb2ycbcr`` computed the way BasicSR's ``to_y_channel`` does.

    The image is scaled to [0,1] in float32, the weighted sum and offset are taken in float64 on those float32
    values, and the result goes back to [0,255] through float32 (``/255`` then ``*255``). Each step rounds, so the
    values can differ from :func:`rgb_to_y` in the last float32 bits, which decides a few roundings to integers.
    """
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H,W,3) RGB image, got shape {img.shape}")
    unit = img.astype(np.float32) / np.float32(255.0)
    y = unit[..., ::-1].astype(np.float64) @ _Y_COEFFS[::-1] + 16.0  # summed B, G, R as BasicSR (BGR input) does
    return (y / 255.0).astype(np.float32) * np.float32(255.0)


def rgb_to_gray_opencv_float32(img: np.ndarray) -> np.ndarray:
    """(H,W,3) RGB in [0,255] -> (H,W) float32 gray with OpenCV's weights 0.299/0.587/0.114 (not MATLAB's), computed
    on [0,1] float32 values and scaled back to [0,255] (BasicSR's ``convert_to='gray'``).

    OpenCV converts the BGR-ordered copy: its float32 sum runs in channel order, so ``COLOR_RGB2GRAY`` on the RGB
    array rounds differently (about one pixel in a thousand lands on another integer).
    """
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H,W,3) RGB image, got shape {img.shape}")
    bgr = img[..., ::-1].astype(np.float32) / np.float32(255.0)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) * np.float32(255.0)


def rgb_to_gray(img: np.ndarray) -> np.ndarray:
    """(H,W,3) RGB in [0,255] (any dtype) -> (H,W) float64 gray with MATLAB ``rgb2gray`` weights, not rounded."""
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H,W,3) RGB image, got shape {img.shape}")
    return cv2.transform(img.astype(np.float64), _GRAY_COEFFS[None])


def rgb_to_y_pt(img: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) RGB in [0,1] -> (N,1,H,W) MATLAB ``rgb2ycbcr`` Y in [16/255, 235/255], same dtype, not rounded."""
    weight = torch.tensor(_Y_COEFFS, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
    return (16.0 + (img * weight).sum(dim=1, keepdim=True)) / 255.0
