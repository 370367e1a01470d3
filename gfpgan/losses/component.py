"""Facial component crops (eyes, mouth) and the component style loss of GFPGAN.

Differences from the reference (``GFPGANModel.get_roi_regions``), both only visible at face sizes other than 512:

- the reference scales the crop size by ``int(out_size / 512)``, which is 0 below 512 (a crash); here the size is
  ``max(1, round(size * face_size / 512))``, e.g. 10 px eyes for 64 px faces;
- the reference also multiplies the cropped *pixel values* by that ratio (a bug: it changes the image range); here
  the pixel values are left as they are.
At 512 px both give exactly the reference's crops.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from gfpgan.losses.perceptual import gram_matrix

__all__ = [
    "COMPONENT_FEATURE_WEIGHTS",
    "component_crop_size",
    "component_feature_loss",
    "component_style_loss",
    "roi_align_boxes",
    "roi_crops",
]

# Weights of the two feature maps of FacialComponentDiscriminator(..., return_feats=True), as the reference uses them.
COMPONENT_FEATURE_WEIGHTS = (0.5, 1.0)


def component_crop_size(size: int, face_size: int) -> int:
    """Crop side for a component of ``size`` px at 512 px faces, scaled to ``face_size`` (rounded, at least 1)."""
    return max(1, round(size * face_size / 512))


def roi_align_boxes(locs: torch.Tensor | Mapping[str, torch.Tensor] | Sequence[torch.Tensor]) -> torch.Tensor:
    """ROI boxes ``[batch_index, x1, y1, x2, y2]`` for roi_align, from a batch's ``x1, y1, x2, y2`` boxes.

    The per-sample boxes themselves come from the dataset (``gfpgan.data.components.component_boxes``).

    Args:
        locs: one (N,4) tensor of ``x1, y1, x2, y2`` boxes (pixels of the face image), or several of them (a sequence
            or a mapping's values, e.g. left and right eye); the boxes of one image are consecutive.
    Returns:
        (N*K, 5) float tensor: image 0's K boxes, then image 1's, ... (K = number of tensors).
    """
    if isinstance(locs, torch.Tensor):
        locs = [locs]
    elif isinstance(locs, Mapping):
        locs = list(locs.values())
    stacked = torch.stack([loc.float() for loc in locs], dim=1)  # (N, K, 4)
    n, k, _ = stacked.shape
    index = torch.arange(n, device=stacked.device, dtype=stacked.dtype).view(n, 1, 1).expand(n, k, 1)
    return torch.cat([index, stacked], dim=2).reshape(n * k, 5)


def roi_crops(
    img: torch.Tensor,
    loc_left_eye: torch.Tensor,
    loc_right_eye: torch.Tensor,
    loc_mouth: torch.Tensor,
    eye_out_size: int = 80,
    mouth_out_size: int = 120,
    face_size: int = 512,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Crop the left eye, right eye and mouth with ``torchvision.ops.roi_align`` (reference parameters).

    roi_align runs with its defaults (spatial_scale 1, sampling_ratio -1, aligned False), as the reference does.

    Args:
        img: (N,3,H,W) float, any range (GFPGAN: [-1,1] RGB); gradients flow through the crops.
        loc_left_eye, loc_right_eye, loc_mouth: (N,4) boxes ``x1, y1, x2, y2`` in pixels of ``img``.
        eye_out_size, mouth_out_size: crop sides at 512 px faces; scaled by ``face_size / 512`` (module docstring).
        face_size: the face image side the sizes are scaled to.
    Returns:
        ``(left_eyes, right_eyes, mouths)``: (N,3,e,e), (N,3,e,e), (N,3,m,m), values not rescaled.
    """
    eye_size = component_crop_size(eye_out_size, face_size)
    mouth_size = component_crop_size(mouth_out_size, face_size)
    eye_boxes = roi_align_boxes([loc_left_eye, loc_right_eye]).to(device=img.device, dtype=img.dtype)
    mouth_boxes = roi_align_boxes(loc_mouth).to(device=img.device, dtype=img.dtype)
    eyes = roi_align(img, eye_boxes, output_size=eye_size)
    mouths = roi_align(img, mouth_boxes, output_size=mouth_size)
    return eyes[0::2], eyes[1::2], mouths


def component_style_loss(
    fake_feats: Sequence[torch.Tensor],
    real_feats: Sequence[torch.Tensor],
    weights: Sequence[float] = COMPONENT_FEATURE_WEIGHTS,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.l1_loss,
) -> torch.Tensor:
    """Style loss between component-discriminator features of fake and real crops.

    ``Σ_i weights[i] · criterion(G(fake_feats[i]), G(real_feats[i].detach()))`` with G = Gram matrix normalised by
    C·H·W. GFPGAN: the two feature maps of ``FacialComponentDiscriminator(..., return_feats=True)``, L1 (mean),
    weights (0.5, 1.0), summed over the three components and multiplied by ``comp_style_weight``.

    Args:
        fake_feats, real_feats: sequences of (N,C,H,W) features, same lengths as ``weights``.
    Returns:
        A scalar; no gradient flows into ``real_feats``.
    """
    if not len(fake_feats) == len(real_feats) == len(weights):
        raise ValueError(
            f"component_style_loss: {len(fake_feats)} fake features, {len(real_feats)} real features and "
            f"{len(weights)} weights; give one weight per feature map."
        )
    loss = 0
    for fake, real, weight in zip(fake_feats, real_feats, weights):
        loss = loss + weight * criterion(gram_matrix(fake), gram_matrix(real.detach()))
    return loss


def component_feature_loss(
    fake_feats: Sequence[torch.Tensor],
    real_feats: Sequence[torch.Tensor],
    kind: Literal["style", "matching"] = "style",
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.l1_loss,
    weights: Sequence[float] = COMPONENT_FEATURE_WEIGHTS,
) -> torch.Tensor:
    """The loss on one component discriminator's features: ``style`` (Gram matrices, the paper) or ``matching``.

    ``matching`` is the Fig. 7 ablation: the same layers and weights without the Gram matrices,
    ``Σ_i weights[i] · criterion(fake_feats[i], real_feats[i].detach())``. Unweighted: GFPGAN sums it over the three
    components and multiplies by ``comp_style_weight``.
    """
    if kind == "style":
        return component_style_loss(fake_feats, real_feats, weights, criterion)
    if kind != "matching":
        raise ValueError(f"component_feature_loss: kind must be 'style' or 'matching', got {kind!r}.")
    return sum(w * criterion(f, r.detach()) for w, f, r in zip(weights, fake_feats, real_feats))
