"""Discriminators of GFP-GAN training: the global StyleGAN2 discriminator and the facial-component (eyes, mouth)
discriminator. Original numerical family (equalized lr, FIR blur, fused leaky ReLU); official key layouts."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gfpgan.archs.ops import channels_for, check_out_size
from gfpgan.archs.stylegan2 import ConvLayer, EqualLinear, ResBlock
from gfpgan.registry import ARCHS

__all__ = ["FacialComponentDiscriminator", "StyleGAN2Discriminator", "stddev_group_size"]


def stddev_group_size(batch: int, stddev_group: int) -> int:
    """Largest group size <= min(batch, stddev_group) that divides ``batch``.

    Upstream uses ``min(batch, stddev_group)`` and crashes when the batch is not divisible by it (e.g. 5, 6 or 7 per
    GPU with group 4). Any batch divisible by the group (and any batch <= group) gives the upstream value.
    """
    group = max(1, min(batch, stddev_group))
    while batch % group:
        group -= 1
    return group


@ARCHS.register()
class StyleGAN2Discriminator(nn.Module):
    """StyleGAN2 residual discriminator with minibatch standard deviation.

    Args:
        out_size: input resolution, a power of two >= 8.
        channel_multiplier: width multiplier for >= 64 px (1 in the GFP-GAN training config).
        resample_kernel: FIR taps of the downsampling blur.
        stddev_group: minibatch-stddev group size; when the batch is not divisible by it, the largest divisor of the
            batch below it is used (see ``stddev_group_size``).
        narrow: width ratio.
    """

    def __init__(
        self,
        out_size: int,
        channel_multiplier: int = 2,
        resample_kernel: Sequence[int] = (1, 3, 3, 1),
        stddev_group: int = 4,
        narrow: float = 1,
    ) -> None:
        super().__init__()
        log_size = check_out_size(out_size, "StyleGAN2Discriminator")
        ch = channels_for(channel_multiplier, narrow)
        kernel = tuple(resample_kernel)
        body: list[nn.Module] = [ConvLayer(3, ch[out_size], 1)]
        for i in range(log_size, 2, -1):
            body.append(ResBlock(ch[2**i], ch[2 ** (i - 1)], kernel))
        self.conv_body = nn.Sequential(*body)
        self.final_conv = ConvLayer(ch[4] + 1, ch[4], 3)
        self.final_linear = nn.Sequential(
            EqualLinear(ch[4] * 4 * 4, ch[4], activation="fused_lrelu"), EqualLinear(ch[4], 1)
        )
        self.stddev_group = stddev_group
        self.stddev_feat = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N,3,out_size,out_size) float in [-1,1], RGB -> logits (N,1) (real > 0)."""
        out = self.conv_body(x)
        b, c, h, w = out.shape
        group = stddev_group_size(b, self.stddev_group)
        # Samples g*(b//group) + m for g in range(group) form one group (upstream layout).
        stats = out.reshape(group, -1, self.stddev_feat, c // self.stddev_feat, h, w)
        stats = torch.sqrt(stats.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
        stats = stats.repeat(group, 1, h, w)
        out = self.final_conv(torch.cat([out, stats], 1))
        return self.final_linear(out.flatten(1))


@ARCHS.register()
class FacialComponentDiscriminator(nn.Module):
    """VGG-style patch discriminator for eye / mouth crops (fixed size, 1,110,785 parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = ConvLayer(3, 64, 3)
        self.conv2 = ConvLayer(64, 128, 3, downsample=True)
        self.conv3 = ConvLayer(128, 128, 3)
        self.conv4 = ConvLayer(128, 256, 3, downsample=True)
        self.conv5 = ConvLayer(256, 256, 3)
        self.final_conv = ConvLayer(256, 1, 3, bias=True, activate=False)

    def forward(
        self, x: torch.Tensor, return_feats: bool = False, **kwargs: object
    ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """x (N,3,H,W) float in [-1,1], RGB -> (patch logits (N,1,H/4,H/4), [conv3 out (N,128,H/2,W/2),
        conv5 out (N,256,H/4,W/4)] if return_feats else None)."""
        feat = self.conv3(self.conv2(self.conv1(x)))
        feats = [feat] if return_feats else None
        feat = self.conv5(self.conv4(feat))
        if feats is not None:
            feats.append(feat)
        return self.final_conv(feat), feats
