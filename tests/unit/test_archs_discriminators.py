"""Discriminators and the ArcFace identity network."""

from __future__ import annotations

import pytest
import torch

from gfpgan.archs.arcface import ResNetArcFace
from gfpgan.archs.discriminators import FacialComponentDiscriminator, StyleGAN2Discriminator, stddev_group_size
from gfpgan.registry import ARCHS

pytestmark = pytest.mark.usefixtures("single_thread")


def _reference_stddev(out: torch.Tensor, group: int) -> torch.Tensor:
    # upstream formula (valid when the batch is divisible by the group)
    b, c, h, w = out.shape
    s = out.view(group, -1, 1, c, h, w)
    s = torch.sqrt(s.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
    return s.repeat(group, 1, h, w)


def test_stddev_group_size():
    assert [stddev_group_size(b, 4) for b in range(1, 10)] == [1, 2, 3, 4, 1, 3, 1, 4, 3]
    assert stddev_group_size(12, 4) == 4


@pytest.mark.parametrize("batch", [1, 2, 3, 4, 5, 6, 7, 8])
def test_discriminator_any_batch(batch):
    torch.manual_seed(0)
    d = StyleGAN2Discriminator(32, channel_multiplier=1, narrow=1 / 32)
    x = torch.rand(batch, 3, 32, 32, requires_grad=True)
    logits = d(x)
    assert logits.shape == (batch, 1) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert x.grad.abs().sum() > 0


def test_discriminator_stddev_matches_upstream_when_divisible():
    torch.manual_seed(0)
    d = StyleGAN2Discriminator(32, channel_multiplier=1, narrow=1 / 32).eval()
    x = torch.rand(8, 3, 32, 32)
    feats = d.conv_body(x)
    expected = d.final_linear(d.final_conv(torch.cat([feats, _reference_stddev(feats, 4)], 1)).flatten(1))
    assert torch.allclose(d(x), expected, atol=1e-6)


def test_facial_component_discriminator():
    torch.manual_seed(0)
    d = FacialComponentDiscriminator()
    x = torch.rand(2, 3, 80, 80)
    logits, feats = d(x, return_feats=True)
    assert logits.shape == (2, 1, 20, 20)
    assert [tuple(f.shape) for f in feats] == [(2, 128, 40, 40), (2, 256, 20, 20)]
    logits2, none = d(x)
    assert none is None and torch.equal(logits, logits2)
    assert sum(p.numel() for p in d.parameters()) == 1_110_785


@pytest.mark.parametrize(
    "block,use_se", [("IRBlock", False), ("IRBlock", True), ("BasicBlock", False), ("Bottleneck", True)]
)
def test_arcface_blocks(block, use_se):
    torch.manual_seed(0)
    net = ARCHS.build({"type": "ResNetArcFace", "block": block, "layers": [1, 1, 1, 1], "use_se": use_se}, "net")
    net.eval()
    emb = net(torch.rand(2, 1, 128, 128))
    assert emb.shape == (2, 512) and torch.isfinite(emb).all()
    assert any(k.endswith(".se.fc.0.weight") for k in net.state_dict()) == use_se


def test_arcface_rejects_unknown_block():
    with pytest.raises(ValueError, match="block must be one of"):
        ResNetArcFace(block="IRBlok")
