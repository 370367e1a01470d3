"""StyleGAN2 generator, "clean" numerical family (GFPGAN ``stylegan2_clean_arch``): plain ``nn.Linear`` / weights
stored already scaled, bilinear resampling, no custom ops. The decoder of GFPGANv1Clean (v1.2 / v1.3 / v1.4 weights).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from gfpgan.archs.ops import SQRT2, channels_for, inference_in_place
from gfpgan.archs.stylegan2 import NormStyleCode, StyleGAN2Base, modulated_conv2d
from gfpgan.registry import ARCHS

__all__ = ["ModulatedConv2dClean", "StyleConvClean", "StyleGAN2GeneratorClean", "ToRGBClean"]


def _init_kaiming(module: nn.Module, a: float, nonlinearity: str, bias_fill: float) -> None:
    """BasicSR ``default_init_weights`` for Linear/Conv: kaiming normal (fan_in), bias filled."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, a=a, mode="fan_in", nonlinearity=nonlinearity)
            if m.bias is not None:
                m.bias.data.fill_(bias_fill)


class ModulatedConv2dClean(nn.Module):
    """Modulated conv with the scale folded into the stored weight (1, C_out, C_in, k, k) and a plain
    ``modulation`` Linear(num_style_feat -> C_in) (bias 1). Up/downsampling = bilinear resize of the input, then a
    padded conv (align_corners False)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_style_feat: int,
        demodulate: bool = True,
        sample_mode: str | None = None,
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        if sample_mode not in ("upsample", "downsample", None):
            raise ValueError(f"sample_mode must be 'upsample', 'downsample' or None, got {sample_mode!r}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate, self.sample_mode, self.eps = demodulate, sample_mode, eps
        self.modulation = nn.Linear(num_style_feat, in_channels, bias=True)
        _init_kaiming(self.modulation, a=0, nonlinearity="linear", bias_fill=1)
        self.weight = nn.Parameter(
            torch.randn(1, out_channels, in_channels, kernel_size, kernel_size)
            / math.sqrt(in_channels * kernel_size**2)
        )
        self.padding = kernel_size // 2
        self._sq_sums: torch.Tensor | None = None  # inference cache of sum_kk(W^2), see _weight_sq_sums
        self._sq_sums_key: tuple | None = None

    def forward(
        self, x: torch.Tensor, style: torch.Tensor, gain: float = 1.0, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x (N, C_in, H, W), style (N, num_style_feat) -> modconv(x) * gain + bias, (N, C_out, H', W')."""
        if self.sample_mode == "upsample":
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        elif self.sample_mode == "downsample":
            x = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
        s = self.modulation(style)
        sq_sums = self._weight_sq_sums() if inference_in_place() else None
        return modulated_conv2d(
            x, self.weight, s, self.demodulate, self.padding, self.eps, gain=gain, bias=bias, weight_sq_sums=sq_sums
        )

    def _weight_sq_sums(self) -> torch.Tensor:
        """sum_kk(W^2), (C_out, C_in): the demodulation's only use of the weight, constant while the weight is, so
        inference computes it once (recomputed after any change: an optimizer step or load bumps ``_version``)."""
        key = (self.weight._version, self.weight.data_ptr(), self.weight.dtype, self.weight.device)
        if self._sq_sums_key != key:
            self._sq_sums = self.weight[0].detach().pow(2).sum([2, 3])
            self._sq_sums_key = key
        return self._sq_sums

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"demodulate={self.demodulate}, sample_mode={self.sample_mode}"
        )


class StyleConvClean(nn.Module):
    """leaky_relu_0.2(modconv(x) * sqrt(2) + weight * noise + bias), bias (1, C, 1, 1), noise strength (1,)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_style_feat: int,
        demodulate: bool = True,
        sample_mode: str | None = None,
    ) -> None:
        super().__init__()
        self.modulated_conv = ModulatedConv2dClean(
            in_channels, out_channels, kernel_size, num_style_feat, demodulate=demodulate, sample_mode=sample_mode
        )
        self.weight = nn.Parameter(torch.zeros(1))  # noise strength
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if not inference_in_place():  # training (and tracing): the reference's order of operations
            out = self.modulated_conv(x, style) * SQRT2
            if noise is None:
                noise = out.new_empty(out.shape[0], 1, out.shape[2], out.shape[3]).normal_()
            return F.leaky_relu(out + self.weight * noise + self.bias, 0.2)
        # inference: sqrt(2) and the bias ride on the convolution; noise and activation in place (two passes, not five)
        out = self.modulated_conv(x, style, gain=SQRT2, bias=self.bias)
        if noise is None:
            noise = out.new_empty(out.shape[0], 1, out.shape[2], out.shape[3]).normal_()
        return F.leaky_relu_(out.add_(self.weight * noise), 0.2)


class ToRGBClean(nn.Module):
    """1x1 modulated conv to RGB (no demodulation) + bias (1,3,1,1); previous RGB skip upsampled bilinearly."""

    def __init__(self, in_channels: int, num_style_feat: int, upsample: bool = True) -> None:
        super().__init__()
        self.upsample = upsample
        self.modulated_conv = ModulatedConv2dClean(in_channels, 3, 1, num_style_feat, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if not inference_in_place():
            out = self.modulated_conv(x, style) + self.bias
        else:  # inference: the bias rides on the convolution
            out = self.modulated_conv(x, style, bias=self.bias)
        if skip is not None:
            if self.upsample:
                skip = F.interpolate(skip, scale_factor=2, mode="bilinear", align_corners=False)
            out = out + skip
        return out


@ARCHS.register()
class StyleGAN2GeneratorClean(StyleGAN2Base):
    """StyleGAN2 generator, clean family (plain layers, bilinear resampling), official key layout.

    Args:
        out_size: output resolution, a power of two >= 8.
        num_style_feat: style (z/w) size.
        num_mlp: number of mapping layers (``style_mlp.{1,3,...}`` Linear, even indices are LeakyReLU).
        channel_multiplier: width multiplier for >= 64 px (2 for GFPGAN v1.2/v1.3/v1.4).
        narrow: width ratio for all resolutions.
    """

    def __init__(
        self, out_size: int, num_style_feat: int = 512, num_mlp: int = 8, channel_multiplier: int = 2, narrow: float = 1
    ) -> None:
        super().__init__()
        self.num_style_feat = num_style_feat
        layers: list[nn.Module] = [NormStyleCode()]
        for _ in range(num_mlp):
            layers += [nn.Linear(num_style_feat, num_style_feat), nn.LeakyReLU(0.2)]
        self.style_mlp = nn.Sequential(*layers)
        _init_kaiming(self.style_mlp, a=0.2, nonlinearity="leaky_relu", bias_fill=0)
        self._build_synthesis(
            out_size,
            channels_for(channel_multiplier, narrow),
            lambda cin, cout, mode: StyleConvClean(cin, cout, 3, num_style_feat, True, mode),
            lambda cin, up: ToRGBClean(cin, num_style_feat, upsample=up),
        )
