"""Deg: the identity distance of the GFP-GAN paper, the angle between ArcFace embeddings of restored and GT faces.

Protocol: each face (H,W,3) uint8 RGB -> [0,1] -> [-1,1] -> gray ``0.2989 R + 0.5870 G + 0.1140 B`` (on the [-1,1]
values) -> bilinear resize to 128x128 (align_corners False, no antialiasing), exactly as the identity loss prepares
its input; the identity network is ResNetArcFace(IRBlock, [2,2,2,2], no SE) with ``arcface_resnet18.pth`` in eval
mode; cosine in float64; angle ``arccos(cos)`` in degrees (or radians), averaged over images. Optionally pairs below
``skip_below_deg`` degrees are left out of the mean (one published script skips pairs under 1 degree); per-image
values always include every pair.
"""

from __future__ import annotations

import math
import os
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from gfpgan.metrics.base import Metric, image_to_tensor, quantize_like_png
from gfpgan.registry import METRICS
from gfpgan.utils.images import gray_resize_for_identity
from gfpgan.utils.state_dict import safe_load
from gfpgan.utils.weights import get_weights_path

__all__ = ["IdentityDistance", "identity_input", "load_arcface"]


def identity_input(img: torch.Tensor, size: int = 128) -> torch.Tensor:
    """(N,3,H,W) RGB in [0,1] -> (N,1,size,size) gray, roughly in [-1,1]: the identity loss's input of ``2 img - 1``."""
    return gray_resize_for_identity(img * 2 - 1, size)


def load_arcface(weights: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> torch.nn.Module:
    """ResNetArcFace(IRBlock, [2,2,2,2], use_se=False) with ``arcface_resnet18`` weights, eval mode, frozen."""
    from gfpgan.archs.arcface import ResNetArcFace  # the arch package; imported lazily to keep metrics light

    path = get_weights_path("arcface_resnet18", local_path=weights)
    state = safe_load(path)
    if isinstance(state, dict) and "params" in state and isinstance(state["params"], dict):
        state = state["params"]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model = ResNetArcFace(block="IRBlock", layers=[2, 2, 2, 2], use_se=False)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(
            f"{path}: not an arcface_resnet18 state dict ({str(e).splitlines()[0]}). Use arcface_resnet18.pth from "
            "the GFPGAN v0.1.0 release."
        ) from None
    return model.to(device).eval().requires_grad_(False)


@METRICS.register("deg", aliases=("identity_distance",))
class IdentityDistance(Metric):
    """Angle between ArcFace embeddings of each restored/GT pair (lower is better). Images (H,W,3) uint8 RGB."""

    name = "deg"
    default_better = "lower"
    needs_gt = True

    def __init__(
        self,
        weights: str | None = None,
        skip_below_deg: float | None = None,
        unit: Literal["degree", "radian"] = "degree",
        device: str | torch.device = "cpu",
        better: Literal["higher", "lower"] | None = None,
    ) -> None:
        super().__init__(device=device, better=better)
        self.weights, self.skip_below_deg, self.unit = weights, skip_below_deg, unit
        self.model = load_arcface(weights, self.device)

    @torch.no_grad()
    def _angles(self, restored: torch.Tensor, gt: torch.Tensor) -> list[float]:
        """(N,3,H,W) RGB in [0,1] pairs -> N angles in ``self.unit``."""
        n = len(restored)
        # one forward for both sides (a batch of 2n): a few % faster per pair than two forwards
        emb = self.model(torch.cat([identity_input(restored), identity_input(gt)])).double()
        a, b = emb[:n], emb[n:]
        cos = (F.normalize(a, dim=1) * F.normalize(b, dim=1)).sum(dim=1).clamp(-1, 1)
        angles = torch.arccos(cos)
        if self.unit == "degree":
            angles = torch.rad2deg(angles)
        return angles.tolist()

    def update(self, restored: np.ndarray, gt: np.ndarray | None) -> None:
        self._check_pair(restored, gt)
        self._values += self._angles(image_to_tensor(restored, self.device), image_to_tensor(gt, self.device))

    def update_batch(self, restored: torch.Tensor, gt: torch.Tensor) -> None:
        """(N,3,H,W) RGB in [0,1], quantised to 8 bits (as saved images)."""
        self._values += self._angles(
            quantize_like_png(restored.to(self.device)).float(), quantize_like_png(gt.to(self.device)).float()
        )

    def compute(self) -> float:
        values = np.asarray(self.per_image, dtype=np.float64)
        if values.size == 0:
            raise RuntimeError("deg: compute() called before any update().")
        if self.skip_below_deg is not None:
            threshold = self.skip_below_deg if self.unit == "degree" else math.radians(self.skip_below_deg)
            values = values[values >= threshold]
            if values.size == 0:
                return 0.0  # every pair is (nearly) the same identity
        return float(values.mean())

    def protocol(self) -> dict:
        return {
            "metric": "deg",
            "network": "ResNetArcFace(IRBlock, [2,2,2,2], use_se=False)",
            "weights": self.weights or "arcface_resnet18",
            "input": "RGB [-1,1] -> gray 0.2989/0.5870/0.1140 -> bilinear 128x128 (align_corners False)",
            "cosine": "float64",
            "unit": self.unit,
            "skip_below_deg": self.skip_below_deg,
        }
