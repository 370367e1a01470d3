"""Tensor <-> image conversions. This project keeps images RGB everywhere; OpenCV I/O converts at the boundary."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

__all__ = ["imwrite_rgb", "tensor2img"]


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
