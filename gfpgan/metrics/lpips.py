"""LPIPS (Zhang et al. 2018) through the ``lpips`` package, version 0.1, on RGB images scaled to [-1,1].

Weights never download by themselves: the package is built with a random backbone (``pnet_rand=True``) and then
either a full ``lpips.LPIPS`` state dict is loaded from ``weights`` (backbone + linear layers), or the torchvision
ImageNet backbone comes from the weights registry (``alexnet-owt-7be5be79`` / ``vgg16-397923af``; offline
directories first) and the linear layers from the files shipped inside the ``lpips`` package.
GFPGAN-era face papers (and BasicSR's calculate_lpips.py) use the VGG backbone, the default here; pyiqa uses AlexNet.
"""

from __future__ import annotations

import re
import warnings
from typing import Literal

import numpy as np
import torch

from gfpgan.metrics.base import Metric, image_to_tensor, quantize_like_png
from gfpgan.registry import METRICS
from gfpgan.utils.weights import get_weights_path

__all__ = ["LPIPS", "build_lpips"]

_BACKBONE_WEIGHTS = {"alex": "alexnet-owt-7be5be79", "vgg": "vgg16-397923af"}


def build_lpips(net: Literal["alex", "vgg"] = "vgg", weights: str | None = None) -> torch.nn.Module:
    """An ``lpips.LPIPS`` (v0.1) model in eval mode on the CPU, without any download.

    Args:
        net: backbone, 'alex' or 'vgg'.
        weights: a file with a full ``lpips.LPIPS`` state dict; without it the torchvision backbone comes from the
            weights registry and the linear layers from the ``lpips`` package.
    """
    import lpips as lpips_package  # a dependency; imported here so that `import gfpgan` stays light

    if net not in _BACKBONE_WEIGHTS:
        raise ValueError(f"LPIPS net must be one of {sorted(_BACKBONE_WEIGHTS)}, got {net!r}")
    with warnings.catch_warnings():  # lpips passes the deprecated `pretrained=` to torchvision
        warnings.simplefilter("ignore", UserWarning)
        model = lpips_package.LPIPS(net=net, version="0.1", pretrained=weights is None, pnet_rand=True, verbose=False)
    if weights is not None:
        state = torch.load(get_weights_path("lpips", local_path=weights), map_location="cpu", weights_only=True)
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise ValueError(
                f"{weights}: not a full lpips.LPIPS(net={net!r}) state dict ({str(e).splitlines()[0]}). "
                f"Save one with torch.save(lpips.LPIPS(net={net!r}).state_dict(), path), or omit the file."
            ) from None
    else:
        path = get_weights_path(_BACKBONE_WEIGHTS[net])
        backbone = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(_backbone_to_lpips_keys(backbone, model.state_dict()), strict=False)
    return model.eval().requires_grad_(False)


def _backbone_to_lpips_keys(backbone: dict, lpips_state: dict) -> dict:
    """torchvision ``features.{i}.weight`` -> lpips ``net.slice{k}.{i}.weight`` (every backbone tensor is required)."""
    out = {}
    for key in lpips_state:
        match = re.fullmatch(r"net\.slice\d+\.(\d+)\.(weight|bias)", key)
        if match:
            source = f"features.{match[1]}.{match[2]}"
            if source not in backbone:
                raise ValueError(f"torchvision backbone file lacks {source!r} (needed for LPIPS {key!r}).")
            out[key] = backbone[source]
    return out


@METRICS.register("lpips")
class LPIPS(Metric):
    """LPIPS per image pair (lower is better). Images (H,W,3) uint8 RGB, scaled to [-1,1]; batched internally."""

    name = "lpips"
    default_better = "lower"
    needs_gt = True

    def __init__(
        self,
        net: Literal["alex", "vgg"] = "vgg",
        weights: str | None = None,
        batch_size: int = 8,
        device: str | torch.device = "cpu",
        better: Literal["higher", "lower"] | None = None,
    ) -> None:
        super().__init__(device=device, better=better)
        self.net = net
        self.weights = weights
        self.batch_size = batch_size
        self.model = build_lpips(net, weights).to(self.device)
        self._pending: list[tuple[torch.Tensor, torch.Tensor]] = []

    def reset(self) -> None:
        super().reset()
        self._pending = []

    def update(self, restored: np.ndarray, gt: np.ndarray | None) -> None:
        self._check_pair(restored, gt)
        pair = (image_to_tensor(restored, self.device), image_to_tensor(gt, self.device))
        if self._pending and self._pending[0][0].shape != pair[0].shape:
            self._flush()
        self._pending.append(pair)
        if len(self._pending) >= self.batch_size:
            self._flush()

    @torch.no_grad()
    def update_batch(self, restored: torch.Tensor, gt: torch.Tensor) -> None:
        """(N,3,H,W) RGB in [0,1]: quantised to 8 bits (as saved images), then scored in one batch."""
        self._flush()
        a = quantize_like_png(restored.to(self.device)).float()
        b = quantize_like_png(gt.to(self.device)).float()
        self._values.extend(self.model(a * 2 - 1, b * 2 - 1).flatten().tolist())

    @torch.no_grad()
    def _flush(self) -> None:
        if not self._pending:
            return
        a = torch.cat([p[0] for p in self._pending])
        b = torch.cat([p[1] for p in self._pending])
        self._pending = []
        self._values.extend(self.model(a * 2 - 1, b * 2 - 1).flatten().tolist())

    def protocol(self) -> dict:
        return {
            "metric": "lpips",
            "implementation": "lpips package v0.1",
            "net": self.net,
            "weights": self.weights or f"torchvision {_BACKBONE_WEIGHTS[self.net]} + lpips v0.1 linear layers",
            "channels": "RGB",
            "input_range": "[-1,1]",
        }
