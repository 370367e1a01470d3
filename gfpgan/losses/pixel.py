"""Pixel losses with BasicSR semantics: ``loss_weight``, ``reduction`` none|mean|sum and optional element-wise weights.

With an element-wise ``weight`` and ``reduction='mean'`` the weighted sum is divided by the weight's sum (times the
number of channels when the weight has a single channel), i.e. the mean over the weighted region, as in BasicSR.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from gfpgan.registry import LOSSES

__all__ = ["CharbonnierLoss", "L1Loss", "MSELoss", "WeightedTVLoss", "weight_reduce_loss"]

Reduction = Literal["none", "mean", "sum"]


def weight_reduce_loss(loss: torch.Tensor, weight: torch.Tensor | None = None, reduction: str = "mean") -> torch.Tensor:
    """Apply an element-wise ``weight`` to an element-wise ``loss`` (N,C,H,W) and reduce it.

    ``weight`` is (N,C,H,W) or (N,1,H,W); for ``mean`` the weighted sum is divided by the total weight (a 1-channel
    weight counts once per channel).
    """
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}.")
    if weight is not None:
        if weight.dim() != loss.dim() or weight.size(1) not in (1, loss.size(1)):
            raise ValueError(
                f"element-wise weight of shape {tuple(weight.shape)} does not fit a loss of shape {tuple(loss.shape)}; "
                "give the same shape, or a single channel."
            )
        loss = loss * weight
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if weight is None:
        return loss.mean()
    total_weight = weight.sum() if weight.size(1) > 1 else weight.sum() * loss.size(1)
    return loss.sum() / total_weight


def _check_reduction(reduction: str, allowed: tuple[str, ...] = ("none", "mean", "sum")) -> None:
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {', '.join(allowed)}; got {reduction!r}.")


class _ElementwiseLoss(nn.Module):
    """``loss_weight * reduce(elementwise(pred, target) * weight)``: the shared options and reduction."""

    def __init__(self, loss_weight: float = 1.0, reduction: Reduction = "mean") -> None:
        super().__init__()
        _check_reduction(reduction)
        self.loss_weight = loss_weight
        self.reduction = reduction

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        return self.loss_weight * weight_reduce_loss(self.elementwise(pred, target), weight, self.reduction)


@LOSSES.register()
class L1Loss(_ElementwiseLoss):
    """``loss_weight * reduce(|pred - target| * weight)``; pred/target (N,C,H,W), any range."""

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(pred, target, reduction="none")


@LOSSES.register()
class MSELoss(_ElementwiseLoss):
    """``loss_weight * reduce((pred - target)^2 * weight)``; pred/target (N,C,H,W), any range."""

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(pred, target, reduction="none")


@LOSSES.register()
class CharbonnierLoss(_ElementwiseLoss):
    """``loss_weight * reduce(sqrt((pred - target)^2 + eps) * weight)``, a differentiable L1 (LapSRN)."""

    def __init__(self, loss_weight: float = 1.0, reduction: Reduction = "mean", eps: float = 1e-12) -> None:
        super().__init__(loss_weight, reduction)
        self.eps = eps

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.sqrt((pred - target) ** 2 + self.eps)


@LOSSES.register()
class WeightedTVLoss(nn.Module):
    """Total variation: ``loss_weight * (L1(vertical differences) + L1(horizontal differences))``.

    Each term is reduced separately (mean or sum); an element-wise weight (N,C|1,H,W) is cropped to each difference.
    """

    def __init__(self, loss_weight: float = 1.0, reduction: Literal["mean", "sum"] = "mean") -> None:
        super().__init__()
        _check_reduction(reduction, ("mean", "sum"))
        self.loss_weight = loss_weight
        self.reduction = reduction

    def forward(self, pred: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        y_weight = None if weight is None else weight[:, :, :-1, :]
        x_weight = None if weight is None else weight[:, :, :, :-1]
        y_diff = (pred[:, :, :-1, :] - pred[:, :, 1:, :]).abs()
        x_diff = (pred[:, :, :, :-1] - pred[:, :, :, 1:]).abs()
        x_loss = weight_reduce_loss(x_diff, x_weight, self.reduction)
        y_loss = weight_reduce_loss(y_diff, y_weight, self.reduction)
        return self.loss_weight * (x_loss + y_loss)
