"""StyleGAN2 generator, "bilinear" family (GFPGAN ``stylegan2_bilinear_arch``): equalized-lr layers and fused leaky
ReLU as the original family, but every FIR blur / transposed conv replaced by ``F.interpolate`` (bilinear, or nearest).
Numerically convertible to the clean family (see ``gfpgan.archs.convert``); the decoder of GFPGANBilinear.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from gfpgan.archs.ops import SQRT2, FusedLeakyReLU, ScaledLeakyReLU, channels_for
from gfpgan.archs.stylegan2 import EqualConv2d, EqualLinear, StyleGAN2Base, _equal_style_mlp, modulated_conv2d
from gfpgan.registry import ARCHS

__all__ = [
    "ConvLayerBilinear",
    "ModulatedConv2dBilinear",
    "ResBlockBilinear",
    "StyleConvBilinear",
    "StyleGAN2GeneratorBilinear",
    "ToRGBBilinear",
]


def _resize(x: torch.Tensor, scale_factor: float, mode: str) -> torch.Tensor:
    return F.interpolate(x, scale_factor=scale_factor, mode=mode, align_corners=None if mode == "nearest" else False)


class ModulatedConv2dBilinear(nn.Module):
    """Equalized-lr modulated conv; up/downsampling by interpolating the input before a padded conv."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_style_feat: int,
        demodulate: bool = True,
        sample_mode: str | None = None,
        eps: float = 1e-8,
        interpolation_mode: str = "bilinear",
    ) -> None:
        super().__init__()
        if sample_mode not in ("upsample", "downsample", None):
            raise ValueError(f"sample_mode must be 'upsample', 'downsample' or None, got {sample_mode!r}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate, self.sample_mode, self.eps = demodulate, sample_mode, eps
        self.interpolation_mode = interpolation_mode
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.modulation = EqualLinear(num_style_feat, in_channels, bias=True, bias_init_val=1)
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """x (N, C_in, H, W), style (N, num_style_feat) -> (N, C_out, H', W')."""
        if self.sample_mode == "upsample":
            x = _resize(x, 2, self.interpolation_mode)
        elif self.sample_mode == "downsample":
            x = _resize(x, 0.5, self.interpolation_mode)
        s = self.modulation(style)
        return modulated_conv2d(x, self.weight * self.scale, s, self.demodulate, self.padding, self.eps)


class StyleConvBilinear(nn.Module):
    """Modulated conv + noise (``weight`` (1,)) + fused bias/leaky ReLU (``activate.bias`` (C,))."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_style_feat: int,
        demodulate: bool = True,
        sample_mode: str | None = None,
        interpolation_mode: str = "bilinear",
    ) -> None:
        super().__init__()
        self.modulated_conv = ModulatedConv2dBilinear(
            in_channels,
            out_channels,
            kernel_size,
            num_style_feat,
            demodulate=demodulate,
            sample_mode=sample_mode,
            interpolation_mode=interpolation_mode,
        )
        self.weight = nn.Parameter(torch.zeros(1))
        self.activate = FusedLeakyReLU(out_channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        out = self.modulated_conv(x, style)
        if noise is None:
            noise = out.new_empty(out.shape[0], 1, out.shape[2], out.shape[3]).normal_()
        return self.activate(out + self.weight * noise)


class ToRGBBilinear(nn.Module):
    """1x1 modulated conv to RGB + bias (1,3,1,1); previous RGB skip upsampled by interpolation."""

    def __init__(
        self, in_channels: int, num_style_feat: int, upsample: bool = True, interpolation_mode: str = "bilinear"
    ) -> None:
        super().__init__()
        self.upsample = upsample
        self.interpolation_mode = interpolation_mode
        self.modulated_conv = ModulatedConv2dBilinear(
            in_channels, 3, 1, num_style_feat, demodulate=False, interpolation_mode=interpolation_mode
        )
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.modulated_conv(x, style) + self.bias
        if skip is not None:
            out = out + (_resize(skip, 2, self.interpolation_mode) if self.upsample else skip)
        return out


class ConvLayerBilinear(nn.Sequential):
    """[Upsample(x0.5) (downsample only), EqualConv2d (padded), activation]; same keys as ``ConvLayer``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        downsample: bool = False,
        bias: bool = True,
        activate: bool = True,
        interpolation_mode: str = "bilinear",
    ) -> None:
        layers: list[nn.Module] = []
        if downsample:
            align = None if interpolation_mode == "nearest" else False
            layers.append(nn.Upsample(scale_factor=0.5, mode=interpolation_mode, align_corners=align))
        layers.append(
            EqualConv2d(in_channels, out_channels, kernel_size, 1, kernel_size // 2, bias=bias and not activate)
        )
        if activate:
            layers.append(FusedLeakyReLU(out_channels) if bias else ScaledLeakyReLU(0.2))
        super().__init__(*layers)


class ResBlockBilinear(nn.Module):
    """Downsampling residual block with interpolation: (conv2(conv1(x)) + skip(x)) / sqrt(2)."""

    def __init__(self, in_channels: int, out_channels: int, interpolation_mode: str = "bilinear") -> None:
        super().__init__()
        self.conv1 = ConvLayerBilinear(in_channels, in_channels, 3)
        self.conv2 = ConvLayerBilinear(in_channels, out_channels, 3, True, interpolation_mode=interpolation_mode)
        self.skip = ConvLayerBilinear(
            in_channels, out_channels, 1, True, bias=False, activate=False, interpolation_mode=interpolation_mode
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / SQRT2


@ARCHS.register()
class StyleGAN2GeneratorBilinear(StyleGAN2Base):
    """StyleGAN2 generator with equalized-lr layers and interpolation resampling (no FIR blur).

    Args:
        out_size: output resolution, a power of two >= 8.
        num_style_feat: style (z/w) size.
        num_mlp: number of mapping layers.
        channel_multiplier: width multiplier for >= 64 px.
        lr_mlp: mapping-network learning-rate multiplier.
        narrow: width ratio for all resolutions.
        interpolation_mode: "bilinear" (align_corners False) or "nearest".
    """

    def __init__(
        self,
        out_size: int,
        num_style_feat: int = 512,
        num_mlp: int = 8,
        channel_multiplier: int = 2,
        lr_mlp: float = 0.01,
        narrow: float = 1,
        interpolation_mode: Literal["bilinear", "nearest"] = "bilinear",
    ) -> None:
        super().__init__()
        self.num_style_feat = num_style_feat
        self.style_mlp = _equal_style_mlp(num_style_feat, num_mlp, lr_mlp)
        mode = interpolation_mode
        self._build_synthesis(
            out_size,
            channels_for(channel_multiplier, narrow),
            lambda cin, cout, sm: StyleConvBilinear(cin, cout, 3, num_style_feat, True, sm, interpolation_mode=mode),
            lambda cin, up: ToRGBBilinear(cin, num_style_feat, upsample=up, interpolation_mode=mode),
        )
