"""GAN objectives in both forms against closed-form values; R1 against an analytic gradient."""

import math

import pytest
import torch

from gfpgan.losses.gan import GAN_TYPES, GANLoss, gan_d_loss, gan_g_loss, r1_penalty
from gfpgan.registry import LOSSES, OptionError

LOGITS = [0.0, 1.0, -2.0, 3.0]
X = torch.tensor(LOGITS).view(1, 1, 2, 2)


def _mean(values):
    return sum(values) / len(values)


def _softplus(v):
    return math.log1p(math.exp(v))


def _bce(v, y):  # binary cross-entropy of sigmoid(v) against label y
    p = 1 / (1 + math.exp(-v))
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def expected(gan_type, target_is_real, is_disc, real=1.0, fake=0.0, weight=1.0):
    label = real if target_is_real else fake
    sign = 1 if target_is_real else -1
    if gan_type == "vanilla":
        value = _mean([_bce(v, label) for v in LOGITS])
    elif gan_type == "lsgan":
        value = _mean([(v - label) ** 2 for v in LOGITS])
    elif gan_type == "wgan":
        value = -sign * _mean(LOGITS)
    elif gan_type == "wgan_softplus":
        value = _mean([_softplus(-sign * v) for v in LOGITS])
    elif is_disc:  # hinge
        value = _mean([max(0.0, 1 - sign * v) for v in LOGITS])
    else:
        value = -_mean(LOGITS)
    return value if is_disc else value * weight


@pytest.mark.parametrize("gan_type", GAN_TYPES)
@pytest.mark.parametrize("target_is_real", [True, False])
@pytest.mark.parametrize("is_disc", [True, False])
def test_gan_loss_values(gan_type, target_is_real, is_disc):
    loss = GANLoss(gan_type, real_label_val=0.9, fake_label_val=0.1, loss_weight=0.1)
    value = loss(X, target_is_real, is_disc=is_disc).item()
    assert value == pytest.approx(expected(gan_type, target_is_real, is_disc, 0.9, 0.1, 0.1), rel=1e-6, abs=1e-7)


def test_pure_functions_match_module():
    for gan_type in GAN_TYPES:
        module = GANLoss(gan_type)
        assert gan_d_loss(X, True, gan_type).item() == pytest.approx(module(X, True, is_disc=True).item())
        assert gan_d_loss(X, False, gan_type).item() == pytest.approx(module(X, False, is_disc=True).item())
        assert gan_g_loss(X, gan_type).item() == pytest.approx(module(X, True).item())


def test_gfpgan_d_loss_mixing_equals_vanilla():
    # softplus(x) == BCEWithLogits(x, 0): the reference's component-D mix of vanilla real + wgan_softplus fake terms
    # equals a pure vanilla D loss.
    fake = torch.tensor([0.3, -1.2, 2.5])
    mixed = gan_d_loss(fake, False, "wgan_softplus")
    assert mixed.item() == pytest.approx(gan_d_loss(fake, False, "vanilla").item(), rel=1e-6)


def test_build_and_bad_type():
    loss = LOSSES.build({"type": "GANLoss", "gan_type": "wgan_softplus", "loss_weight": "0.1"}, where="train.gan_opt")
    assert loss.loss_weight == pytest.approx(0.1)
    with pytest.raises(OptionError, match="wgan_softplus"):
        LOSSES.build({"type": "GANLoss", "gan_type": "wgan_sofplus"}, where="train.gan_opt")
    with pytest.raises(ValueError, match="gan_type"):
        GANLoss("relativistic")


def test_r1_penalty_analytic():
    """D(x)_n = Σ w·x_n²  =>  ∂ΣD/∂x_n = 2 w x_n,  r1 = mean_n Σ 4 w² x_n²,  ∂r1/∂w = mean_n 8 w x_n²."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 2, 4, 4, generator=g).requires_grad_(True)
    w = torch.randn(2, 4, 4, generator=g).requires_grad_(True)
    pred = (w * x**2).sum(dim=(1, 2, 3))
    r1 = r1_penalty(pred, x)
    xd, wd = x.detach(), w.detach()
    torch.testing.assert_close(r1.detach(), (4 * wd**2 * xd**2).sum(dim=(1, 2, 3)).mean())
    # the penalty keeps its graph (create_graph=True): it can be back-propagated into D's parameters
    (grad_w,) = torch.autograd.grad(r1, w)
    torch.testing.assert_close(grad_w, (8 * wd * xd**2).mean(dim=0))
