"""The metric-object protocol shared by every registered metric, and image conversions used by several of them.

A metric object accumulates one value per image pair (``update``), reports the mean (``compute``) and the exact
protocol it followed (``protocol``). Images are (H,W,3) uint8 **RGB** arrays everywhere in this package.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

__all__ = ["Metric", "image_to_tensor", "quantize_like_png"]


def image_to_tensor(img: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """(H,W,3) uint8 RGB -> (1,3,H,W) float32 in [0,1], RGB, on ``device``."""
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H,W,3) RGB image, got shape {img.shape}")
    if img.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image in [0,255], got dtype {img.dtype}")
    return torch.from_numpy(np.ascontiguousarray(img)).to(device).permute(2, 0, 1)[None].float() / 255.0


def quantize_like_png(batch: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) float in [0,1] -> the same clamped and rounded to the 8-bit grid (values k/255), float64.

    This is what saving the image as a PNG does, so batched metrics on tensors equal the per-image metrics on the
    saved uint8 files.
    """
    return (batch.detach().to(torch.float64).clamp(0, 1) * 255.0).round() / 255.0


class Metric:
    """Base class: per-image values, mean, reset. Subclasses set ``name``, ``default_better`` and ``needs_gt``."""

    name: str = "metric"
    default_better: Literal["higher", "lower"] = "higher"
    needs_gt: bool = True

    def __init__(self, device: str | torch.device = "cpu", better: Literal["higher", "lower"] | None = None) -> None:
        self.device = torch.device(device)
        self.better = better or self.default_better
        self._values: list[float] = []

    def reset(self) -> None:
        """Forget every image seen so far."""
        self._values = []

    def _flush(self) -> None:
        """Process anything buffered for batching (no-op unless a subclass buffers)."""

    @property
    def per_image(self) -> list[float]:
        """One value per ``update`` call, in call order."""
        self._flush()
        return list(self._values)

    def load_values(self, values: list[float]) -> None:
        """Replace the per-image values by ``values`` (one per pair, in pair order). ``gfpgan-eval`` computes only
        the pairs missing from its cache, then hands the whole list back so that ``compute`` sees every pair."""
        self._flush()
        self._values = [float(v) for v in values]

    def compute(self) -> float:
        """Mean over the images seen (``inf`` stays ``inf``: identical images have infinite PSNR)."""
        values = self.per_image
        if not values:
            raise RuntimeError(f"{self.name}: compute() called before any update().")
        return float(np.mean(np.asarray(values, dtype=np.float64)))

    def _check_pair(self, restored: np.ndarray, gt: np.ndarray | None) -> None:
        if self.needs_gt and gt is None:
            raise ValueError(f"{self.name} is a full-reference metric: update() needs the ground-truth image.")
        if gt is not None and self.needs_gt and restored.shape != gt.shape:
            raise ValueError(f"{self.name}: restored shape {restored.shape} differs from ground truth {gt.shape}.")

    def protocol(self) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.protocol()})"


def finite_or_str(value: float) -> float | str:
    """JSON-safe number: ``inf``/``nan`` become strings."""
    return value if math.isfinite(value) else str(value)
