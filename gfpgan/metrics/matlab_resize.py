"""MATLAB ``imresize`` (bicubic, antialiased when shrinking) for float64 arrays, vectorised.

Used by NIQE for its second scale. Follows MATLAB's ``contributions``: output pixel ``x`` (1-based) maps to input
coordinate ``u = x/scale + 0.5*(1 - 1/scale)``; when shrinking the cubic kernel (a = -0.5) is stretched by
``1/scale`` and scaled by ``scale``; each row of weights is normalised to sum 1; out-of-range indices are mirrored
symmetrically (edge sample repeated); all-zero weight columns are dropped. Height is resized first, then width.
No clamping or rounding (MATLAB's behaviour for double input).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["imresize"]


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))


def _contributions(in_length: int, out_length: int, scale: float, antialiasing: bool) -> tuple[np.ndarray, np.ndarray]:
    """Weights (out, P) and 0-based input indices (out, P) for one axis, before mirroring (may be out of range)."""
    kernel_width = 4.0
    shrink_aa = scale < 1 and antialiasing
    if shrink_aa:
        kernel_width /= scale
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + np.arange(taps)[None, :]  # 1-based
    distance = u[:, None] - indices
    weights = scale * _cubic(distance * scale) if shrink_aa else _cubic(distance)
    weights = weights / weights.sum(axis=1, keepdims=True)
    keep = np.any(weights != 0, axis=0)
    return weights[:, keep], indices[:, keep].astype(np.int64) - 1


def _resize_first_axis(img: np.ndarray, weights: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """out[i] = sum_p weights[i, p] * img[mirror(indices[i, p])] along axis 0."""
    in_length = img.shape[0]
    # MATLAB's aux = [1:in, in:-1:1] indexed by mod(indices-1, 2*in).
    aux = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    mirrored = aux[np.mod(indices, 2 * in_length)]
    return np.einsum("ip,ip...->i...", weights, img[mirrored])


def imresize(img: np.ndarray, scale: float, antialiasing: bool = True) -> np.ndarray:
    """MATLAB ``imresize(img, scale)`` with the bicubic kernel.

    Args:
        img: (H,W) or (H,W,C) float array (any range; float64 is used internally).
        scale: the same factor for height and width; output size ``ceil(H*scale) x ceil(W*scale)``.
        antialiasing: widen the kernel when shrinking (MATLAB's default).
    Returns:
        float64 array of the output size, same number of dimensions, not clamped or rounded.
    """
    img = np.asarray(img, dtype=np.float64)
    in_h, in_w = img.shape[:2]
    out_h, out_w = math.ceil(in_h * scale), math.ceil(in_w * scale)
    out = _resize_first_axis(img, *_contributions(in_h, out_h, scale, antialiasing))
    out = _resize_first_axis(
        np.ascontiguousarray(out.swapaxes(0, 1)), *_contributions(in_w, out_w, scale, antialiasing)
    )
    return np.ascontiguousarray(out.swapaxes(0, 1))
