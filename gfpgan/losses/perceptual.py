"""Perceptual and style losses on VGG features (BasicSR ``PerceptualLoss`` semantics)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from gfpgan.archs.vgg import VGGFeatureExtractor
from gfpgan.registry import LOSSES

__all__ = ["PerceptualLoss", "gram_matrix"]


def gram_matrix(x: torch.Tensor) -> torch.Tensor:
    """Gram matrix normalised by the feature size: (N,C,H,W) -> (N,C,C) = F·Fᵀ / (C·H·W), F = x as (N,C,H·W).

    Always float32 (also under autocast): the unnormalised sums of products overflow float16.
    """
    n, c, h, w = x.shape
    features = x.reshape(n, c, h * w).float()
    with torch.autocast(device_type=x.device.type, enabled=False):
        return torch.bmm(features, features.transpose(1, 2)) / (c * h * w)


def _frobenius(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Frobenius norm of ``a - b`` over all elements (a scalar; not averaged)."""
    return torch.linalg.vector_norm(a - b)


_CRITERIA: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "l1": F.l1_loss,
    "l2": F.mse_loss,  # BasicSR 1.4.2 crashes here (`torch.nn.L2loss` typo); MSE is what was meant (fixed upstream).
    "fro": _frobenius,
}


@LOSSES.register()
class PerceptualLoss(nn.Module):
    """Perceptual (feature distance) and style (Gram distance) losses with a frozen VGG.

    ``percep = perceptual_weight * Σ_k w_k · crit(φ_k(x), φ_k(gt))`` and
    ``style = style_weight * Σ_k w_k · crit(G(φ_k(x)), G(φ_k(gt)))``, with G = :func:`gram_matrix` and the layer weights
    ``w_k`` of ``layer_weights`` (``conv*`` layers are taken before their ReLU). ``l1``/``l2`` are element means,
    ``fro`` is the Frobenius norm of the difference. The GT features are computed once, without autograd.

    Args:
        layer_weights: ``{vgg layer name: weight}``, e.g. GFPGAN's ``{conv1_2: 0.1, conv2_2: 0.1, conv3_4: 1,
            conv4_4: 1, conv5_4: 1}``.
        vgg_type, use_input_norm, range_norm: see :class:`~gfpgan.archs.vgg.VGGFeatureExtractor`.
        perceptual_weight: the perceptual term is computed only if > 0 (else ``None`` is returned for it).
        style_weight: the style term is computed only if > 0 (else ``None``).
        criterion: l1 | l2 (mean squared error) | fro.
        vgg_weights: VGG weights name or file (see VGGFeatureExtractor ``weights``); ``None`` = random (tests).
    """

    def __init__(
        self,
        layer_weights: dict[str, float],
        vgg_type: str = "vgg19",
        use_input_norm: bool = True,
        range_norm: bool = False,
        perceptual_weight: float = 1.0,
        style_weight: float = 0.0,
        criterion: Literal["l1", "l2", "fro"] = "l1",
        vgg_weights: str | None = "vgg19-dcbb9e9d",
    ) -> None:
        super().__init__()
        if criterion not in _CRITERIA:
            raise ValueError(f"PerceptualLoss: criterion must be one of {', '.join(_CRITERIA)}; got {criterion!r}.")
        self.layer_weights = {name: float(w) for name, w in layer_weights.items()}
        self.perceptual_weight = perceptual_weight
        self.style_weight = style_weight
        self.criterion_type = criterion
        self.criterion = _CRITERIA[criterion]
        self.vgg = VGGFeatureExtractor(
            layer_name_list=list(layer_weights),
            vgg_type=vgg_type,
            use_input_norm=use_input_norm,
            range_norm=range_norm,
            weights=vgg_weights,
        )

    def forward(self, x: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Perceptual and style losses of ``x`` against ``gt``.

        Args:
            x: (N,3,H,W) float RGB, in [0,1] (or [-1,1] with ``range_norm``); gradients flow into it.
            gt: same shape and range; no gradient flows into it.
        Returns:
            ``(percep_loss, style_loss)``, scalars, each ``None`` when its weight is 0.
        """
        x_features = self.vgg(x)
        with torch.no_grad():
            gt_features = self.vgg(gt.detach())

        percep_loss = None
        if self.perceptual_weight > 0:
            percep_loss = 0
            for name, feature in x_features.items():
                percep_loss = percep_loss + self.criterion(feature, gt_features[name]) * self.layer_weights[name]
            percep_loss = percep_loss * self.perceptual_weight

        style_loss = None
        if self.style_weight > 0:
            style_loss = 0
            for name, feature in x_features.items():
                distance = self.criterion(gram_matrix(feature), gram_matrix(gt_features[name]))
                style_loss = style_loss + distance * self.layer_weights[name]
            style_loss = style_loss * self.style_weight
        return percep_loss, style_loss
