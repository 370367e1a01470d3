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
import torch

__all__ = ["imresize", "imresize_float32_mv"]


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


def _mirror_padded(x: torch.Tensor, indices: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """``x`` (L, M) with the rows the taps reach beyond either end appended in mirror order (MATLAB's symmetric
    extension), as a new contiguous float32 tensor, and the taps' first row in it for every output."""
    length = x.shape[0]
    before, after = max(0, -int(indices.min())), max(0, int(indices.max()) - length + 1)
    aux = np.concatenate([np.arange(length), np.arange(length - 1, -1, -1)])
    rows = torch.from_numpy(aux[np.mod(np.arange(-before, length + after), 2 * length)])
    return x.index_select(0, rows).contiguous(), indices[:, 0] + before


@torch.no_grad()
def imresize_float32_mv(img: np.ndarray, scale: float, antialiasing: bool = True) -> np.ndarray:
    """MATLAB bicubic ``imresize`` in float32 with one matrix-vector product per output row, then per output column.

    The arithmetic of BasicSR's torch port (``basicsr.utils.matlab_functions.imresize``), reproduced to the bit on
    the same BLAS: MKL's float32 ``gemv`` sums in an order that depends on the memory alignment of its operands, so
    the image is laid out as a freshly allocated, mirror-padded contiguous tensor (padded only as far as the taps
    reach) and every product takes the same strided view of it (height pass: a (taps, W) block, transposed; width
    pass: an (H, taps) block of the padded intermediate). The weights are exact in float32 at scale 0.5.

    Args:
        img: (H,W) array; computed in float32.
        scale: the same factor for height and width; output size ``ceil(H*scale) x ceil(W*scale)``.
        antialiasing: widen the kernel when shrinking (MATLAB's default).
    Returns:
        (ceil(H*scale), ceil(W*scale)) float32 array, not clamped or rounded.
    """
    if img.ndim != 2:
        raise ValueError(f"imresize_float32_mv expects an (H,W) array, got shape {img.shape}")
    x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))
    in_h, in_w = x.shape
    out_h, out_w = math.ceil(in_h * scale), math.ceil(in_w * scale)
    # Height pass: output row i = block(taps, W)^T @ weights_i.
    weights, indices = _contributions(in_h, out_h, scale, antialiasing)
    weights = torch.from_numpy(np.ascontiguousarray(weights, dtype=np.float32)).clone()  # aligned like BasicSR
    padded, first = _mirror_padded(x, indices)
    taps = weights.shape[1]
    rows = torch.empty(out_h, in_w)
    for i, start in enumerate(first.tolist()):
        rows[i] = padded[start : start + taps].t().mv(weights[i])
    # Width pass: output column j = block(H, taps) @ weights_j, on the intermediate padded along its columns.
    weights, indices = _contributions(in_w, out_w, scale, antialiasing)
    weights = torch.from_numpy(np.ascontiguousarray(weights, dtype=np.float32)).clone()
    padded, first = _mirror_padded(rows.t(), indices)
    padded = padded.t().contiguous()  # (out_h, padded width), row-major as BasicSR keeps it
    taps = weights.shape[1]
    out = torch.empty(out_h, out_w)
    for j, start in enumerate(first.tolist()):
        out[:, j] = padded[:, start : start + taps].mv(weights[j])
    return out.numpy()
