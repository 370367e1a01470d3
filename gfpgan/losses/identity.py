"""Identity-preserving loss: L1 between ArcFace embeddings of the restored and the ground-truth face."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gfpgan.utils.images import gray_resize_for_identity

__all__ = ["gray_resize_for_identity", "identity_loss"]


def identity_loss(
    arcface: nn.Module,
    output: torch.Tensor,
    gt: torch.Tensor,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.l1_loss,
) -> torch.Tensor:
    """``criterion(arcface(gray(output)), arcface(gray(gt)))`` on the raw (unnormalised) 512-d embeddings.

    The GT embedding is computed under ``torch.no_grad``; gradients flow into ``output`` only (the ArcFace network is
    expected frozen and in eval mode). Unweighted: GFPGAN multiplies it by ``identity_weight``.

    Args:
        arcface: module mapping (N,1,128,128) gray faces to (N,512) embeddings.
        output, gt: (N,3,H,W) float in [-1,1], RGB.
    Returns:
        A scalar.
    """
    with torch.no_grad():
        gt_embedding = arcface(gray_resize_for_identity(gt.detach()))
    return criterion(arcface(gray_resize_for_identity(output)), gt_embedding)
