"""Multi-scale restoration loss of GFPGAN: L1 between the decoder's intermediate RGB images and a GT pyramid."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

__all__ = ["gt_pyramid", "pyramid_l1"]


def gt_pyramid(gt: torch.Tensor, num_levels: int) -> list[torch.Tensor]:
    """GT images at ``num_levels`` scales, smallest first (ordered like the generator's ``out_rgbs``).

    Built by repeated halving with ``F.interpolate(scale_factor=0.5, mode='bilinear', align_corners=False)`` (no
    antialiasing), as the reference does; for 512 px and 7 levels: 8, 16, ..., 512.

    Args:
        gt: (N,3,H,W) float in [-1,1], RGB.
        num_levels: number of levels, the last one being ``gt`` itself.
    Returns:
        ``num_levels`` tensors (N,3,H/2^(L-1),...), ..., (N,3,H,W).
    """
    if num_levels < 1:
        raise ValueError(f"gt_pyramid: num_levels must be >= 1, got {num_levels}.")
    levels = [gt]
    for _ in range(num_levels - 1):
        levels.insert(0, F.interpolate(levels[0], scale_factor=0.5, mode="bilinear", align_corners=False))
    return levels


def pyramid_l1(
    out_rgbs: Sequence[torch.Tensor],
    pyramid: Sequence[torch.Tensor],
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.l1_loss,
) -> list[torch.Tensor]:
    """Per-level losses ``criterion(out_rgbs[i], pyramid[i])`` (L1 mean by default), unweighted.

    GFPGAN logs level i as ``l_p_{2**(i+3)}`` and multiplies each by ``pyramid_loss_weight``.

    Args:
        out_rgbs: the generator's intermediate RGB outputs, smallest first, (N,3,h_i,w_i) in [-1,1].
        pyramid: :func:`gt_pyramid` of the GT with as many levels.
    """
    if len(out_rgbs) != len(pyramid):
        raise ValueError(
            f"pyramid_l1: {len(out_rgbs)} outputs but {len(pyramid)} GT levels; build gt_pyramid with "
            f"num_levels=len(out_rgbs)."
        )
    losses = []
    for i, (out, target) in enumerate(zip(out_rgbs, pyramid)):
        if out.shape != target.shape:
            raise ValueError(f"pyramid_l1: level {i} output {tuple(out.shape)} vs GT {tuple(target.shape)}.")
        losses.append(criterion(out, target))
    return losses
