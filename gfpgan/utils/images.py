"""Tensor <-> image conversions. This project keeps images RGB everywhere; OpenCV I/O converts at the boundary.

Also the ArcFace input of GFPGAN (:func:`gray_resize_for_identity`), shared by the identity loss and the Deg metric
(``gfpgan.metrics`` imports no training code, so the one definition lives here).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["gray_resize_for_identity", "imwrite_rgb", "tensor2img"]


def tensor2img(x: torch.Tensor, min_max: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray | list[np.ndarray]:
    """(3,H,W) or (N,3,H,W) float RGB in ``min_max`` -> uint8 (H,W,3) RGB (a list for a batch).

    Clamped, scaled to [0,255] and rounded, as the reference's tensor2img (which returns BGR; we keep RGB).
    """
    lo, hi = min_max
    x = x.detach().float().clamp(lo, hi)
    x = ((x - lo) / (hi - lo) * 255.0).round().to(torch.uint8).cpu()
    if x.ndim == 3:
        return x.permute(1, 2, 0).numpy()
    return [img.permute(1, 2, 0).numpy() for img in x]


def imwrite_rgb(path: str | os.PathLike, img: np.ndarray) -> None:
    """Write an (H,W,3) RGB or (H,W) gray uint8/uint16 image; parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img
    if not cv2.imwrite(str(path), out):
        raise OSError(f"could not write image {path}")


def gray_resize_for_identity(x: torch.Tensor, size: int = 128) -> torch.Tensor:
    """ArcFace input of GFPGAN: luma of the [-1,1] image, resized to ``size`` x ``size``.

    ``0.2989 R + 0.5870 G + 0.1140 B`` on the [-1,1] values (no renormalisation, as the reference), then bilinear
    ``F.interpolate`` with align_corners=False and no antialiasing.

    Args:
        x: (N,3,H,W) float in [-1,1], RGB.
    Returns:
        (N,1,size,size) float, roughly in [-1,1].
    """
    gray = 0.2989 * x[:, 0, :, :] + 0.5870 * x[:, 1, :, :] + 0.1140 * x[:, 2, :, :]
    return F.interpolate(gray.unsqueeze(1), (size, size), mode="bilinear", align_corners=False)


def labelled_grid(rows: list[list[np.ndarray]], labels: list[str], min_tile: int = 128) -> np.ndarray:
    """A picture people can read: one row per sample, one labelled column per kind (e.g. degraded | restored | GT).

    Args:
        rows: per sample, one (H,W,3) uint8 RGB image per column (same size within the grid).
        labels: the column titles, written in a white header band.
        min_tile: tiles smaller than this are enlarged with nearest-neighbour (pixels stay visible) to at least it.
    Returns:
        (header + rows * tile, columns * tile, 3) uint8 RGB.
    """
    if not rows or any(len(r) != len(labels) for r in rows):
        raise ValueError(f"labelled_grid: every row needs {len(labels)} images, one per label")
    h, w = rows[0][0].shape[:2]
    scale = max(1, -(-min_tile // max(h, w)))
    tiles = [[cv2.resize(img, (w * scale, h * scale), interpolation=cv2.INTER_NEAREST) for img in r] for r in rows]
    th, tw = h * scale, w * scale
    header = np.full((28, tw * len(labels), 3), 255, np.uint8)
    for i, label in enumerate(labels):
        size, _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        x = i * tw + max(2, (tw - size[0]) // 2)
        cv2.putText(header, label, (x, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    body = np.concatenate([np.concatenate(r, axis=1) for r in tiles], axis=0)
    assert body.shape[0] == th * len(rows)
    return np.concatenate([header, body], axis=0)
