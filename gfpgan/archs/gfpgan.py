"""GFP-GAN generators: a U-Net that degrades-to-latent and predicts spatial (CS-)SFT conditions, and a StyleGAN2
decoder (the generative facial prior) modulated by them.

Three numerical families, same structure and (for v1/bilinear) identical key sets:
- ``GFPGANv1``: the paper's training arch (equalized lr, FIR blur downsampling, bilinear ConvUpLayer upsampling).
- ``GFPGANBilinear``: as v1 but every blur replaced by bilinear interpolation; convertible to clean.
- ``GFPGANv1Clean``: plain layers; the inference arch of the released v1.2 / v1.3 / v1.4 weights.

``modulation`` selects the paper's Table 4 ablation: "cs-sft" (SFT on half of the decoder channels, the paper's
choice), "sft" (SFT on all channels) or "none" (no spatial modulation: no condition nets, only the latent code).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn
from torch.nn import functional as F

from gfpgan.archs.ops import (
    SQRT2,
    ChannelsLastSafe,
    FusedLeakyReLU,
    ScaledLeakyReLU,
    channels_for,
    check_out_size,
    inference_in_place,
)
from gfpgan.archs.stylegan2 import ConvLayer, EqualConv2d, EqualLinear, ResBlock, StyleGAN2Generator
from gfpgan.archs.stylegan2_bilinear import ConvLayerBilinear, ResBlockBilinear, StyleGAN2GeneratorBilinear
from gfpgan.archs.stylegan2_clean import StyleGAN2GeneratorClean
from gfpgan.registry import ARCHS

__all__ = [
    "ConvUpLayer",
    "GFPGANBilinear",
    "GFPGANv1",
    "GFPGANv1Clean",
    "ResBlockClean",
    "ResUpBlock",
    "StyleGAN2GeneratorBilinearSFT",
    "StyleGAN2GeneratorCSFT",
    "StyleGAN2GeneratorSFT",
    "resolve_modulation",
]

Modulation = Literal["cs-sft", "sft", "none"]


def resolve_modulation(modulation: str | None, sft_half: bool | None, owner: str) -> str:
    """Combine the ``modulation`` switch with the official ``sft_half`` flag into one of cs-sft / sft / none.

    modulation None follows sft_half (True -> cs-sft, False/None -> sft, the official default). Given both, they must
    agree: cs-sft needs sft_half True or unset, sft needs False or unset, none refuses sft_half True.
    """
    if modulation is None:
        return "cs-sft" if sft_half else "sft"
    if modulation not in ("cs-sft", "sft", "none"):
        raise ValueError(f"{owner}: modulation must be 'cs-sft', 'sft', 'none' or null, got {modulation!r}")
    if sft_half is not None:
        clash = (
            (modulation == "cs-sft" and not sft_half)
            or (modulation == "sft" and sft_half)
            or (modulation == "none" and sft_half)
        )
        if clash:
            raise ValueError(
                f"{owner}: modulation={modulation!r} contradicts sft_half={sft_half!r} (cs-sft means sft_half true, "
                "sft means sft_half false, none uses no SFT). Set only one of them."
            )
    return modulation


# ----------------------------------------------------------------------------------------------------------------------
# Decoders with SFT


class _SFTForward:
    """``forward(styles, conditions, ...)`` for the SFT decoders; the synthesis itself lives in StyleGAN2Base."""

    sft_half: bool

    def forward(
        self,
        styles: Sequence[torch.Tensor],
        conditions: Sequence[torch.Tensor] | None,
        input_is_latent: bool = False,
        noise: Sequence[torch.Tensor | None] | None = None,
        randomize_noise: bool = True,
        truncation: float = 1,
        truncation_latent: torch.Tensor | None = None,
        inject_index: int | None = None,
        return_latents: bool = False,
        noise_generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """As ``StyleGAN2Base.forward`` with SFT ``conditions`` = [scale_0, shift_0, scale_1, shift_1, ...] for the
        levels 8, 16, ... px (fewer levels are allowed; None or [] = no spatial modulation)."""
        latent = self._latent(styles, input_is_latent, truncation, truncation_latent, inject_index)
        noises = self._noise(noise, randomize_noise, noise_generator, latent.shape[0], latent)
        image = self._synthesize(latent, noises, conditions or None, self.sft_half)
        return image, (latent if return_latents else None)


class StyleGAN2GeneratorSFT(_SFTForward, StyleGAN2Generator):
    """Original-family StyleGAN2 decoder with SFT (decoder of GFPGANv1)."""

    def __init__(
        self,
        out_size: int,
        num_style_feat: int = 512,
        num_mlp: int = 8,
        channel_multiplier: int = 2,
        resample_kernel: Sequence[int] = (1, 3, 3, 1),
        lr_mlp: float = 0.01,
        narrow: float = 1,
        sft_half: bool = False,
    ) -> None:
        super().__init__(out_size, num_style_feat, num_mlp, channel_multiplier, resample_kernel, lr_mlp, narrow)
        self.sft_half = sft_half


class StyleGAN2GeneratorBilinearSFT(_SFTForward, StyleGAN2GeneratorBilinear):
    """Bilinear-family StyleGAN2 decoder with SFT (decoder of GFPGANBilinear)."""

    def __init__(
        self,
        out_size: int,
        num_style_feat: int = 512,
        num_mlp: int = 8,
        channel_multiplier: int = 2,
        lr_mlp: float = 0.01,
        narrow: float = 1,
        sft_half: bool = False,
    ) -> None:
        super().__init__(out_size, num_style_feat, num_mlp, channel_multiplier, lr_mlp, narrow)
        self.sft_half = sft_half


class StyleGAN2GeneratorCSFT(_SFTForward, StyleGAN2GeneratorClean):
    """Clean-family StyleGAN2 decoder with (CS-)SFT (decoder of GFPGANv1Clean)."""

    def __init__(
        self,
        out_size: int,
        num_style_feat: int = 512,
        num_mlp: int = 8,
        channel_multiplier: int = 2,
        narrow: float = 1,
        sft_half: bool = False,
    ) -> None:
        super().__init__(out_size, num_style_feat, num_mlp, channel_multiplier, narrow)
        self.sft_half = sft_half


# ----------------------------------------------------------------------------------------------------------------------
# U-Net blocks


class ConvUpLayer(nn.Module):
    """Bilinear x2 upsampling, then an equalized-lr conv (``weight``; ``bias`` only when not activated), then
    FusedLeakyReLU (``activation.bias``) or ScaledLeakyReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        bias_init_val: float = 0.0,
        activate: bool = True,
    ) -> None:
        super().__init__()
        self.stride, self.padding = stride, padding
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.full((out_channels,), float(bias_init_val))) if bias and not activate else None
        if activate:
            self.activation = FusedLeakyReLU(out_channels) if bias else ScaledLeakyReLU(0.2)
        else:
            self.activation = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        out = F.conv2d(out, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)
        return self.activation(out) if self.activation is not None else out


class ResUpBlock(nn.Module):
    """Upsampling residual block of GFPGANv1/GFPGANBilinear: (conv2(conv1(x)) + skip(x)) / sqrt(2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3)
        self.conv2 = ConvUpLayer(in_channels, out_channels, 3, padding=1)
        self.skip = ConvUpLayer(in_channels, out_channels, 1, bias=False, activate=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / SQRT2


class ResBlockClean(nn.Module):
    """Clean residual block: lrelu(conv1) -> bilinear resize -> lrelu(conv2), plus resize -> 1x1 skip (no /sqrt2)."""

    def __init__(self, in_channels: int, out_channels: int, mode: Literal["down", "up"] = "down") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        if mode not in ("down", "up"):
            raise ValueError(f"ResBlockClean: mode must be 'down' or 'up', got {mode!r}")
        self.scale_factor = 0.5 if mode == "down" else 2.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inplace = inference_in_place()  # inference: activations and the sum in place
        out = F.leaky_relu(self.conv1(x), 0.2, inplace=inplace)
        out = F.interpolate(out, scale_factor=self.scale_factor, mode="bilinear", align_corners=False)
        out = F.leaky_relu(self.conv2(out), 0.2, inplace=inplace)
        if inplace and self.scale_factor > 1:
            # the 1x1 skip and the resize commute: convolve the 4x fewer low-resolution pixels first
            skip = F.interpolate(self.skip(x), scale_factor=self.scale_factor, mode="bilinear", align_corners=False)
            return out.add_(skip)
        x = F.interpolate(x, scale_factor=self.scale_factor, mode="bilinear", align_corners=False)
        return out.add_(self.skip(x)) if inplace else out + self.skip(x)


# ----------------------------------------------------------------------------------------------------------------------
# GFP-GAN


class _GFPGANBase(ChannelsLastSafe):
    """Encoder / condition / decoder wiring shared by the three GFP-GAN families.

    Subclasses set: conv_body_first, conv_body_down, final_conv, conv_body_up, toRGB, final_linear, stylegan_decoder,
    condition_scale, condition_shift (module names = official checkpoint keys), in that order.
    """

    def _setup(
        self,
        out_size: int,
        num_style_feat: int,
        different_w: bool,
        input_is_latent: bool,
        modulation: str | None,
        sft_half: bool | None,
    ) -> None:
        self.log_size = check_out_size(out_size, type(self).__name__, minimum=16)
        self.num_style_feat = num_style_feat
        self.different_w = different_w
        self.input_is_latent = input_is_latent
        self.modulation = resolve_modulation(modulation, sft_half, type(self).__name__)
        self.sft_half = self.modulation == "cs-sft"
        self.linear_out_channels = (self.log_size * 2 - 2) * num_style_feat if different_w else num_style_feat

    @property
    def out_size(self) -> int:
        """Side of the aligned faces this generator restores, in pixels (gfpgan/archs/contract.py)."""
        return 2**self.log_size

    def _finish(self, decoder_load_path: str | None, fix_decoder: bool) -> None:
        if decoder_load_path:
            from gfpgan.utils.state_dict import load_weights

            load_weights(self.stylegan_decoder, os.fspath(decoder_load_path), param_key="params_ema", strict=True)
        if fix_decoder:
            self.stylegan_decoder.requires_grad_(False)

    def _condition_pair(self, conv, act, channels: int) -> tuple[nn.Module, nn.Module]:
        out_channels = channels if self.sft_half else channels * 2
        scale = nn.Sequential(conv(channels, channels, 0.0), act(), conv(channels, out_channels, 1.0))
        shift = nn.Sequential(conv(channels, channels, 0.0), act(), conv(channels, out_channels, 0.0))
        return scale, shift

    def _build_conditions(self, channels: dict[int, int], conv, act) -> None:
        self.condition_scale = nn.ModuleList()
        self.condition_shift = nn.ModuleList()
        if self.modulation == "none":
            return
        for log_res in range(3, self.log_size + 1):
            scale, shift = self._condition_pair(conv, act, channels[2**log_res])
            self.condition_scale.append(scale)
            self.condition_shift.append(shift)

    def _first(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_body_first(x)

    def _final(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_conv(x)

    def forward(
        self,
        x: torch.Tensor,
        return_latents: bool = False,
        return_rgb: bool = True,
        randomize_noise: bool = True,
        noise_generator: torch.Generator | None = None,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Restore faces.

        Args:
            x: (N,3,out_size,out_size) float in [-1,1], RGB, aligned faces.
            return_latents: accepted for API compatibility (the latent is not returned, as upstream).
            return_rgb: also return the intermediate RGB pyramid of the U-Net.
            randomize_noise: fresh decoder noise each call (official default); False uses the stored noise buffers.
            noise_generator: draw the decoder noise from this generator instead (deterministic).
            **kwargs: ignored (old callers pass e.g. ``weight=0.5``).
        Returns:
            (image (N,3,out_size,out_size) float, roughly [-1,1] (unclamped), RGB;
             out_rgbs: list of (N,3,r,r) for r = 8, 16, ..., out_size, empty when return_rgb is False).
        """
        unet_skips = []
        feat = self._first(x)
        for block in self.conv_body_down:
            feat = block(feat)
            unet_skips.insert(0, feat)
        feat = self._final(feat)

        style_code = self.final_linear(feat.flatten(1))
        if self.different_w:
            style_code = style_code.view(style_code.shape[0], -1, self.num_style_feat)

        conditions: list[torch.Tensor] = []
        out_rgbs: list[torch.Tensor] = []
        for i, up_block in enumerate(self.conv_body_up):
            feat = up_block(feat.add_(unet_skips[i]) if inference_in_place() else feat + unet_skips[i])
            if self.modulation != "none":
                conditions.append(self.condition_scale[i](feat))
                conditions.append(self.condition_shift[i](feat))
            if return_rgb:
                out_rgbs.append(self.toRGB[i](feat))

        image, _ = self.stylegan_decoder(
            [style_code],
            conditions,
            input_is_latent=self.input_is_latent,
            randomize_noise=randomize_noise,
            noise_generator=noise_generator,
        )
        return image, out_rgbs


def _check_args(owner: str, narrow: float) -> None:
    if narrow <= 0:
        raise ValueError(f"{owner}: narrow must be > 0, got {narrow}")


@ARCHS.register()
class GFPGANv1(_GFPGANBase):
    """GFP-GAN as trained in the paper: equalized-lr U-Net (FIR blur downsampling) + StyleGAN2 SFT decoder.

    Args:
        out_size: input/output resolution, a power of two >= 16.
        num_style_feat: style size of the decoder.
        channel_multiplier: decoder width multiplier (1 for the paper / GFPGANv1.pth).
        resample_kernel: FIR taps of the blur.
        decoder_load_path: StyleGAN2 checkpoint (key ``params_ema``) loaded into ``stylegan_decoder``.
        fix_decoder: freeze ``stylegan_decoder`` (requires_grad False on exactly its parameters).
        num_mlp / lr_mlp: decoder mapping network (unused when input_is_latent).
        input_is_latent: the U-Net code is a w (no mapping network); true in all official configs.
        different_w: predict one w per decoder layer (W+), true in all official configs.
        narrow: width ratio (the U-Net is half as wide as the decoder).
        sft_half: official flag, CS-SFT when true.
        modulation: "cs-sft" | "sft" | "none" (paper Table 4); None follows sft_half.
    """

    def __init__(
        self,
        out_size: int,
        num_style_feat: int = 512,
        channel_multiplier: int = 1,
        resample_kernel: Sequence[int] = (1, 3, 3, 1),
        decoder_load_path: str | None = None,
        fix_decoder: bool = True,
        num_mlp: int = 8,
        lr_mlp: float = 0.01,
        input_is_latent: bool = False,
        different_w: bool = False,
        narrow: float = 1,
        sft_half: bool | None = None,
        modulation: Modulation | None = None,
    ) -> None:
        super().__init__()
        _check_args("GFPGANv1", narrow)
        self._setup(out_size, num_style_feat, different_w, input_is_latent, modulation, sft_half)
        kernel = tuple(resample_kernel)
        ch = channels_for(channel_multiplier, narrow * 0.5)

        self.conv_body_first = ConvLayer(3, ch[out_size], 1)
        self.conv_body_down = nn.ModuleList(
            ResBlock(ch[2**i], ch[2 ** (i - 1)], kernel) for i in range(self.log_size, 2, -1)
        )
        self.final_conv = ConvLayer(ch[4], ch[4], 3)
        self.conv_body_up = nn.ModuleList(ResUpBlock(ch[2 ** (i - 1)], ch[2**i]) for i in range(3, self.log_size + 1))
        self.toRGB = nn.ModuleList(EqualConv2d(ch[2**i], 3, 1) for i in range(3, self.log_size + 1))
        self.final_linear = EqualLinear(ch[4] * 16, self.linear_out_channels)
        self.stylegan_decoder = StyleGAN2GeneratorSFT(
            out_size, num_style_feat, num_mlp, channel_multiplier, kernel, lr_mlp, narrow, self.sft_half
        )
        self._build_conditions(
            ch, lambda cin, cout, b: EqualConv2d(cin, cout, 3, 1, 1, bias=True, bias_init_val=b), ScaledLeakyReLU
        )
        self._finish(decoder_load_path, fix_decoder)


@ARCHS.register()
class GFPGANBilinear(_GFPGANBase):
    """GFPGANv1 with bilinear interpolation instead of FIR blur everywhere (same keys as GFPGANv1); its weights
    convert exactly to GFPGANv1Clean (``gfpgan.archs.convert``). Arguments as GFPGANv1 without resample_kernel."""

    def __init__(
        self,
        out_size: int,
        num_style_feat: int = 512,
        channel_multiplier: int = 1,
        decoder_load_path: str | None = None,
        fix_decoder: bool = True,
        num_mlp: int = 8,
        lr_mlp: float = 0.01,
        input_is_latent: bool = False,
        different_w: bool = False,
        narrow: float = 1,
        sft_half: bool | None = None,
        modulation: Modulation | None = None,
    ) -> None:
        super().__init__()
        _check_args("GFPGANBilinear", narrow)
        self._setup(out_size, num_style_feat, different_w, input_is_latent, modulation, sft_half)
        ch = channels_for(channel_multiplier, narrow * 0.5)

        self.conv_body_first = ConvLayerBilinear(3, ch[out_size], 1)
        self.conv_body_down = nn.ModuleList(
            ResBlockBilinear(ch[2**i], ch[2 ** (i - 1)]) for i in range(self.log_size, 2, -1)
        )
        self.final_conv = ConvLayerBilinear(ch[4], ch[4], 3)
        self.conv_body_up = nn.ModuleList(ResUpBlock(ch[2 ** (i - 1)], ch[2**i]) for i in range(3, self.log_size + 1))
        self.toRGB = nn.ModuleList(EqualConv2d(ch[2**i], 3, 1) for i in range(3, self.log_size + 1))
        self.final_linear = EqualLinear(ch[4] * 16, self.linear_out_channels)
        self.stylegan_decoder = StyleGAN2GeneratorBilinearSFT(
            out_size, num_style_feat, num_mlp, channel_multiplier, lr_mlp, narrow, self.sft_half
        )
        self._build_conditions(
            ch, lambda cin, cout, b: EqualConv2d(cin, cout, 3, 1, 1, bias=True, bias_init_val=b), ScaledLeakyReLU
        )
        self._finish(decoder_load_path, fix_decoder)


@ARCHS.register()
class GFPGANv1Clean(_GFPGANBase):
    """GFP-GAN with plain layers and bilinear resampling: the arch of the released v1.2 / v1.3 / v1.4 weights
    (out_size 512, channel_multiplier 2, different_w, sft_half, input_is_latent). Arguments as GFPGANv1 without
    resample_kernel and lr_mlp. Condition nets use PyTorch's default conv init (upstream behaviour)."""

    def __init__(
        self,
        out_size: int,
        num_style_feat: int = 512,
        channel_multiplier: int = 1,
        decoder_load_path: str | None = None,
        fix_decoder: bool = True,
        num_mlp: int = 8,
        input_is_latent: bool = False,
        different_w: bool = False,
        narrow: float = 1,
        sft_half: bool | None = None,
        modulation: Modulation | None = None,
    ) -> None:
        super().__init__()
        _check_args("GFPGANv1Clean", narrow)
        self._setup(out_size, num_style_feat, different_w, input_is_latent, modulation, sft_half)
        ch = channels_for(channel_multiplier, narrow * 0.5)

        self.conv_body_first = nn.Conv2d(3, ch[out_size], 1)
        self.conv_body_down = nn.ModuleList(
            ResBlockClean(ch[2**i], ch[2 ** (i - 1)], "down") for i in range(self.log_size, 2, -1)
        )
        self.final_conv = nn.Conv2d(ch[4], ch[4], 3, 1, 1)
        self.conv_body_up = nn.ModuleList(
            ResBlockClean(ch[2 ** (i - 1)], ch[2**i], "up") for i in range(3, self.log_size + 1)
        )
        self.toRGB = nn.ModuleList(nn.Conv2d(ch[2**i], 3, 1) for i in range(3, self.log_size + 1))
        self.final_linear = nn.Linear(ch[4] * 16, self.linear_out_channels)
        self.stylegan_decoder = StyleGAN2GeneratorCSFT(
            out_size, num_style_feat, num_mlp, channel_multiplier, narrow, self.sft_half
        )
        self._build_conditions(ch, lambda cin, cout, b: nn.Conv2d(cin, cout, 3, 1, 1), lambda: nn.LeakyReLU(0.2))
        self._finish(decoder_load_path, fix_decoder)

    def _first(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv_body_first(x), 0.2, inplace=inference_in_place())

    def _final(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.final_conv(x), 0.2, inplace=inference_in_place())
