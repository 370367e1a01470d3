"""Adversarial losses (BasicSR ``GANLoss`` semantics) and the R1 gradient penalty.

The objectives are small pure functions of the discriminator logits; :class:`GANLoss` picks one by ``gan_type`` and
applies ``loss_weight`` to the generator form only (the discriminator form is never weighted, as in BasicSR).

=============  ===========================================  =======================================
gan_type       discriminator: real / fake                    generator (target real)
=============  ===========================================  =======================================
vanilla        BCEWithLogits(x, real_label) / (x, fake_lbl)  BCEWithLogits(x, real_label)
lsgan          MSE(x, real_label) / MSE(x, fake_label)       MSE(x, real_label)
wgan           -mean(x) / mean(x)                            -mean(x)
wgan_softplus  mean(softplus(-x)) / mean(softplus(x))        mean(softplus(-x))
hinge          mean(relu(1 - x)) / mean(relu(1 + x))         -mean(x)
=============  ===========================================  =======================================
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from gfpgan.registry import LOSSES

__all__ = ["GAN_TYPES", "GANLoss", "gan_d_loss", "gan_g_loss", "path_length_penalty", "r1_penalty"]

GANType = Literal["vanilla", "lsgan", "wgan", "wgan_softplus", "hinge"]
GAN_TYPES: tuple[str, ...] = ("vanilla", "lsgan", "wgan", "wgan_softplus", "hinge")


def _labelled(
    logits: torch.Tensor, gan_type: str, target_is_real: bool, real_label_val: float, fake_label_val: float
) -> torch.Tensor:
    """The loss of ``logits`` against the real or fake target: the shared form of every type but hinge's generator."""
    if gan_type == "vanilla":
        target = torch.full_like(logits, real_label_val if target_is_real else fake_label_val)
        return F.binary_cross_entropy_with_logits(logits, target)
    if gan_type == "lsgan":
        target = torch.full_like(logits, real_label_val if target_is_real else fake_label_val)
        return F.mse_loss(logits, target)
    if gan_type == "wgan":
        return -logits.mean() if target_is_real else logits.mean()
    if gan_type == "wgan_softplus":
        return F.softplus(-logits).mean() if target_is_real else F.softplus(logits).mean()
    if gan_type == "hinge":
        return F.relu(1 - logits).mean() if target_is_real else F.relu(1 + logits).mean()
    raise ValueError(f"unknown gan_type {gan_type!r}; use one of {', '.join(GAN_TYPES)}.")


def gan_d_loss(
    logits: torch.Tensor,
    target_is_real: bool,
    gan_type: str,
    real_label_val: float = 1.0,
    fake_label_val: float = 0.0,
) -> torch.Tensor:
    """Discriminator objective for logits of real (``target_is_real``) or fake images; a scalar, unweighted."""
    return _labelled(logits, gan_type, target_is_real, real_label_val, fake_label_val)


def gan_g_loss(
    logits: torch.Tensor,
    gan_type: str,
    target_is_real: bool = True,
    real_label_val: float = 1.0,
    fake_label_val: float = 0.0,
) -> torch.Tensor:
    """Generator objective for the discriminator's logits of fake images; a scalar, unweighted.

    ``target_is_real`` is True in every GAN here (the generator wants its fakes judged real); hinge ignores it.
    """
    if gan_type == "hinge":
        return -logits.mean()
    return _labelled(logits, gan_type, target_is_real, real_label_val, fake_label_val)


@LOSSES.register()
class GANLoss(nn.Module):
    """Adversarial loss; ``forward(logits, target_is_real, is_disc=False)`` returns a scalar.

    Args:
        gan_type: vanilla | lsgan | wgan | wgan_softplus | hinge (see the module table).
        real_label_val, fake_label_val: targets of vanilla and lsgan.
        loss_weight: multiplies the generator form only (``is_disc=False``).
    """

    def __init__(
        self,
        gan_type: GANType,
        real_label_val: float = 1.0,
        fake_label_val: float = 0.0,
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if gan_type not in GAN_TYPES:
            raise ValueError(f"GANLoss: unknown gan_type {gan_type!r}; use one of {', '.join(GAN_TYPES)}.")
        self.gan_type = gan_type
        self.real_label_val = real_label_val
        self.fake_label_val = fake_label_val
        self.loss_weight = loss_weight

    def forward(self, input: torch.Tensor, target_is_real: bool, is_disc: bool = False) -> torch.Tensor:
        """Loss of discriminator logits ``input`` (any shape) for the real/fake target; D form if ``is_disc``."""
        if is_disc:
            return gan_d_loss(input, target_is_real, self.gan_type, self.real_label_val, self.fake_label_val)
        loss = gan_g_loss(input, self.gan_type, target_is_real, self.real_label_val, self.fake_label_val)
        return loss * self.loss_weight

    def extra_repr(self) -> str:
        return f"gan_type={self.gan_type!r}, loss_weight={self.loss_weight}"


def r1_penalty(real_pred: torch.Tensor, real_img: torch.Tensor) -> torch.Tensor:
    """R1 penalty (Mescheder et al. 2018, eq. 9): ``mean_n Σ (∂ Σ D(real) / ∂ real_n)²``.

    Args:
        real_pred: discriminator logits of ``real_img`` (any shape), computed with ``real_img.requires_grad``.
        real_img: (N,...) the real images the logits come from.
    Returns:
        A scalar that keeps the graph (``create_graph=True``) so it can be back-propagated into D.
    """
    (grad,) = torch.autograd.grad(outputs=real_pred.sum(), inputs=real_img, create_graph=True)
    return grad.pow(2).reshape(grad.shape[0], -1).sum(1).mean()


def path_length_penalty(
    fake_img: torch.Tensor, latents: torch.Tensor, mean_path_length: float | torch.Tensor, decay: float = 0.01
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """StyleGAN2's path-length regulariser (Karras et al. 2020, eq. 4), as BasicSR's ``g_path_regularize``.

    With y ~ N(0, I) / sqrt(H*W) (drawn here from the global torch RNG, like the reference), the path length of each
    sample is ``|| d(sum(g(w) * y)) / dw ||`` averaged over the W+ layers; the moving mean is
    ``a <- a + decay * (mean(lengths) - a)`` and the penalty ``mean((lengths - a)^2)``.

    Args:
        fake_img: (N,3,H,W) images generated from ``latents`` (graph kept).
        latents: (N, num_latent, F) W+ latents with requires_grad (``return_latents=True``).
        mean_path_length: the moving mean ``a`` so far (0 at the start).
    Returns:
        (penalty scalar with graph, mean path length of this batch (detached), new moving mean (detached)).
    """
    noise = torch.randn_like(fake_img) / math.sqrt(fake_img.shape[2] * fake_img.shape[3])
    (grad,) = torch.autograd.grad(outputs=(fake_img * noise).sum(), inputs=latents, create_graph=True)
    path_lengths = torch.sqrt(grad.pow(2).sum(2).mean(1))
    path_mean = mean_path_length + decay * (path_lengths.mean() - mean_path_length)
    penalty = (path_lengths - path_mean).pow(2).mean()
    return penalty, path_lengths.detach().mean(), path_mean.detach()
