"""StyleGAN2 generator, "original" numerical family (BasicSR ``stylegan2_arch``): equalized learning rate, FIR
[1,3,3,1] resampling, fused bias + leaky ReLU * sqrt(2). Parameter names and shapes follow the official checkpoints.

Also holds ``StyleGAN2Base``, the mapping / style mixing / truncation / noise / synthesis logic shared by the three
generator families (original, clean, bilinear) and their SFT variants used as GFP-GAN decoders.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from gfpgan.archs.ops import (
    SQRT2,
    ChannelsLastSafe,
    FIRFilter,
    FusedLeakyReLU,
    ScaledLeakyReLU,
    channels_for,
    check_out_size,
    fused_leaky_relu,
    inference_in_place,
)
from gfpgan.registry import ARCHS

__all__ = [
    "ConstantInput",
    "ConvLayer",
    "EqualConv2d",
    "EqualLinear",
    "ModulatedConv2d",
    "NormStyleCode",
    "ResBlock",
    "StyleConv",
    "StyleGAN2Base",
    "StyleGAN2Generator",
    "ToRGB",
    "modulated_conv2d",
]


# ----------------------------------------------------------------------------------------------------------------------
# Equalized-learning-rate layers


class NormStyleCode(nn.Module):
    """Pixel norm of style codes: x * rsqrt(mean(x^2) + 1e-8) over dim 1 of (N, F)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x**2, dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate: weight stored as randn/lr_mul, scaled by lr_mul/sqrt(in) at run time.

    With ``activation="fused_lrelu"`` the bias goes through the fused bias + leaky ReLU * sqrt(2).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        bias: bool = True,
        bias_init_val: float = 0.0,
        lr_mul: float = 1.0,
        activation: str | None = None,
    ) -> None:
        super().__init__()
        if activation not in ("fused_lrelu", None):
            raise ValueError(f"EqualLinear: activation must be 'fused_lrelu' or None, got {activation!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.lr_mul = lr_mul
        self.activation = activation
        self.scale = lr_mul / math.sqrt(in_channels)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_channels,), float(bias_init_val))) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias * self.lr_mul
        if self.activation == "fused_lrelu":
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, lr_mul={self.lr_mul}, activation={self.activation}"


class EqualConv2d(nn.Module):
    """Conv2d with equalized learning rate: weight stored as randn, scaled by 1/sqrt(in*k*k) at run time."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        bias_init_val: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.padding = stride, padding
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.full((out_channels,), float(bias_init_val))) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, bias={self.bias is not None}"
        )


class ConvLayer(nn.Sequential):
    """[FIR blur (downsample only), EqualConv2d, activation] as an ``nn.Sequential`` (keys ``0.weight``/``1.bias``, or
    ``1.weight``/``2.bias`` when downsampling). The conv holds a bias only when ``bias and not activate``; with
    ``activate`` the bias lives in the FusedLeakyReLU (ScaledLeakyReLU when ``bias=False``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        downsample: bool = False,
        resample_kernel: Sequence[int] = (1, 3, 3, 1),
        bias: bool = True,
        activate: bool = True,
    ) -> None:
        layers: list[nn.Module] = []
        if downsample:
            layers.append(FIRFilter.smooth_before_downsample(resample_kernel, kernel_size))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channels) if bias else ScaledLeakyReLU(0.2))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Discriminator / encoder residual block: (conv2(conv1(x)) + skip(x)) / sqrt(2), downsampling by 2."""

    def __init__(self, in_channels: int, out_channels: int, resample_kernel: Sequence[int] = (1, 3, 3, 1)) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3)
        self.conv2 = ConvLayer(in_channels, out_channels, 3, downsample=True, resample_kernel=resample_kernel)
        self.skip = ConvLayer(
            in_channels, out_channels, 1, downsample=True, resample_kernel=resample_kernel, bias=False, activate=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / SQRT2


# ----------------------------------------------------------------------------------------------------------------------
# Modulated convolution (shared by the three families)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    style: torch.Tensor,
    demodulate: bool,
    padding: int,
    eps: float = 1e-8,
    transposed: bool = False,
    stride: int = 1,
    fused: bool | None = None,
    gain: float = 1.0,
    bias: torch.Tensor | None = None,
    weight_sq_sums: torch.Tensor | None = None,
) -> torch.Tensor:
    """StyleGAN2 modulated convolution, in one of two numerically equivalent forms.

    - fused (``fused_modconv=True`` in StyleGAN2): scale a per-sample copy of the weight by the style, demodulate it,
      and run one grouped convolution over the batch (the reference's formulation).
    - unfused: ``conv(x * style, W) * demod`` with ``demod = rsqrt(style^2 @ sum_kk(W^2)^T + eps)``: one ordinary
      convolution with the shared weight. On CPU it runs oneDNN's dense (and channels_last) kernels instead of a
      grouped convolution, its backward needs no per-sample weight gradient (a frozen decoder then costs no weight
      gradient at all), and it keeps the memory format of ``x``.

    Both give the same result up to float rounding. ``fused=None`` picks the unfused form, except under no_grad when
    a sample's activation is larger than the weight (high-resolution inference layers), where modulating the small
    weight is the cheaper pass (batch 4 at 512 px: 4-12% faster, peak memory 4.2 -> 3.7 GiB). With
    ``weight_sq_sums`` (a frozen weight's sum_kk(W^2), cached by the caller) neither form passes over the weight
    to demodulate: the unfused form touches only the activation, the fused one multiplies the weight once by the
    (C_out, C_in) product of style and demodulation, and ``gain`` and ``bias`` ride on that pass and on the
    convolution.

    Args:
        x: (N, C_in, H, W) features.
        weight: (1, C_out, C_in, k, k) already multiplied by any equalized-lr scale.
        style: (N, C_in) per-sample input-channel scales (the output of the modulation layer).
        demodulate: normalise each output filter to unit norm (rsqrt(sum w^2 + eps)).
        transposed: stride-2 transposed convolution (the original family's upsampling), no padding.
        stride: stride of the (non-transposed) convolution.
        fused: force the form (True: grouped, False: shared weight); None = automatic.
        gain: a constant multiplying the result (StyleConv's sqrt(2)), folded into the per-sample scale.
        bias: (C_out,) added to the result (inside the convolution in the fused form).
        weight_sq_sums: (C_out, C_in) ``weight[0].pow(2).sum([2, 3])``, precomputed (no gradient flows through it).
    Returns:
        (N, C_out, H', W'): ``modconv(x) * gain + bias``.
    """
    n, c, h, w = x.shape
    _, c_out, _, k, _ = weight.shape
    if fused is None:
        fused = not torch.is_grad_enabled() and c * h * w > c_out * c * k * k
    w0 = weight[0]  # (C_out, C_in, k, k)
    if fused and weight_sq_sums is not None and not transposed:
        # one pass over the weight: W * (demod * gain)[o] * s[i]; demod = rsqrt(s^2 @ sum_kk(W^2)^T + eps)
        per_pair = style.view(n, 1, c) * gain
        if demodulate:
            per_pair = per_pair * torch.rsqrt(style.pow(2) @ weight_sq_sums.t() + eps).view(n, c_out, 1)
        modulated = (w0 * per_pair.unsqueeze(-1).unsqueeze(-1).to(w0.dtype)).reshape(n * c_out, c, k, k)
        bias = bias.reshape(c_out).repeat(n) if bias is not None else None
        out = F.conv2d(_as_groups(x), modulated, bias, stride=stride, padding=padding, groups=n)
        return out if n == 1 else out.reshape(n, c_out, out.shape[2], out.shape[3])
    if not fused:
        x = x * style.view(n, c, 1, 1).to(x.dtype)
        if transposed:
            out = F.conv_transpose2d(x, w0.transpose(0, 1), stride=2)
        else:
            out = F.conv2d(x, w0, stride=stride, padding=padding)
        scale = None
        if demodulate:
            # sum over (C_in, k, k) of (W * s)^2 = s^2 @ sum_kk(W^2)^T, per sample and output channel
            sq_sums = weight_sq_sums if weight_sq_sums is not None else w0.pow(2).sum([2, 3])
            scale = torch.rsqrt(style.pow(2) @ sq_sums.t() + eps)  # (N, C_out)
        if gain != 1.0:
            scale = scale * gain if scale is not None else out.new_full((n, c_out), gain)
        if scale is not None and bias is not None:  # one pass, written into the fresh output (keeps its layout)
            scale, bias = scale.view(n, c_out, 1, 1).to(out.dtype), bias.view(1, c_out, 1, 1).to(out.dtype)
            return torch.addcmul(bias, out, scale, out=out) if not torch.is_grad_enabled() else out * scale + bias
        if scale is not None:
            out = out * scale.view(n, c_out, 1, 1).to(out.dtype)
        return out + bias.view(1, c_out, 1, 1).to(out.dtype) if bias is not None else out
    weight = weight * style.view(n, 1, c, 1, 1)
    if demodulate:
        weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4], keepdim=True) + eps)
    if gain != 1.0:
        weight = weight * gain
    if bias is not None:
        bias = bias.reshape(c_out).repeat(n)
    x = _as_groups(x)
    if transposed:
        weight = weight.transpose(1, 2).reshape(n * c, c_out, k, k)
        out = F.conv_transpose2d(x, weight, bias, stride=2, groups=n)
    else:
        out = F.conv2d(x, weight.reshape(n * c_out, c, k, k), bias, stride=stride, padding=padding, groups=n)
    return out if n == 1 else out.reshape(n, c_out, out.shape[2], out.shape[3])


def _as_groups(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (1, N*C, H, W) for the grouped convolution. A single sample is passed as it is: even a
    same-shape ``reshape`` makes the convolution drop channels_last (torch 2.14: its output comes back NCHW, and every
    later layer pays a conversion)."""
    n, c, h, w = x.shape
    return x if n == 1 else x.reshape(1, n * c, h, w)


class ModulatedConv2d(nn.Module):
    """Modulated conv of the original family: equalized-lr weight (1, C_out, C_in, k, k) and ``modulation``
    EqualLinear(num_style_feat -> C_in, bias 1); upsampling = stride-2 transposed conv then FIR blur."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_style_feat: int,
        demodulate: bool = True,
        sample_mode: str | None = None,
        resample_kernel: Sequence[int] = (1, 3, 3, 1),
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        if sample_mode not in ("upsample", "downsample", None):
            raise ValueError(
                f"ModulatedConv2d: sample_mode must be 'upsample', 'downsample' or None, got {sample_mode!r}"
            )
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate, self.sample_mode, self.eps = demodulate, sample_mode, eps
        if sample_mode == "upsample":
            self.smooth = FIRFilter.smooth_after_upsample(resample_kernel, kernel_size)
        elif sample_mode == "downsample":
            self.smooth = FIRFilter.smooth_before_downsample(resample_kernel, kernel_size)
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.modulation = EqualLinear(num_style_feat, in_channels, bias=True, bias_init_val=1)
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """x (N, C_in, H, W), style (N, num_style_feat) -> (N, C_out, H', W')."""
        s = self.modulation(style)
        weight = self.weight * self.scale
        if self.sample_mode == "upsample":
            return self.smooth(modulated_conv2d(x, weight, s, self.demodulate, 0, self.eps, transposed=True))
        if self.sample_mode == "downsample":
            return modulated_conv2d(self.smooth(x), weight, s, self.demodulate, 0, self.eps, stride=2)
        return modulated_conv2d(x, weight, s, self.demodulate, self.padding, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"demodulate={self.demodulate}, sample_mode={self.sample_mode}"
        )


class StyleConv(nn.Module):
    """Modulated conv + noise (``weight`` (1,) strength) + fused bias/leaky ReLU (``activate.bias`` (C,))."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_style_feat: int,
        demodulate: bool = True,
        sample_mode: str | None = None,
        resample_kernel: Sequence[int] = (1, 3, 3, 1),
    ) -> None:
        super().__init__()
        self.modulated_conv = ModulatedConv2d(
            in_channels, out_channels, kernel_size, num_style_feat, demodulate, sample_mode, resample_kernel
        )
        self.weight = nn.Parameter(torch.zeros(1))  # noise strength
        self.activate = FusedLeakyReLU(out_channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        out = self.modulated_conv(x, style)
        if noise is None:
            noise = out.new_empty(out.shape[0], 1, out.shape[2], out.shape[3]).normal_()
        return self.activate(out + self.weight * noise)


class ToRGB(nn.Module):
    """1x1 modulated conv to RGB (no demodulation) + bias (1,3,1,1); adds the FIR-upsampled previous RGB skip."""

    def __init__(
        self,
        in_channels: int,
        num_style_feat: int,
        upsample: bool = True,
        resample_kernel: Sequence[int] = (1, 3, 3, 1),
    ) -> None:
        super().__init__()
        self.upsample = FIRFilter.upsample(resample_kernel) if upsample else None
        self.modulated_conv = ModulatedConv2d(in_channels, 3, 1, num_style_feat, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.modulated_conv(x, style) + self.bias
        if skip is not None:
            out = out + (self.upsample(skip) if self.upsample is not None else skip)
        return out


class ConstantInput(nn.Module):
    """Learned constant (1, C, size, size) repeated over the batch."""

    def __init__(self, num_channel: int, size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, num_channel, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.weight.expand(batch, -1, -1, -1)


# ----------------------------------------------------------------------------------------------------------------------
# Generator logic shared by every family


class StyleGAN2Base(ChannelsLastSafe):
    """Mapping, style mixing, truncation, noise and synthesis shared by all StyleGAN2 generator families.

    Subclasses create ``style_mlp`` and call ``_build_synthesis`` with their StyleConv / ToRGB factories, which creates
    ``constant_input``, ``style_conv1``, ``to_rgb1``, ``style_convs``, ``to_rgbs`` and the persistent noise buffers
    ``noises.noise{i}`` (shape (1,1,r,r), r = 4,8,8,16,16,...; part of the official state dict).
    """

    num_style_feat: int
    style_mlp: nn.Sequential

    def _build_synthesis(
        self,
        out_size: int,
        channels: dict[int, int],
        style_conv: Callable[[int, int, str | None], nn.Module],
        to_rgb: Callable[[int, bool], nn.Module],
    ) -> None:
        self.log_size = check_out_size(out_size, type(self).__name__)
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.num_latent = self.log_size * 2 - 2
        self.channels = channels
        self.constant_input = ConstantInput(channels[4], size=4)
        self.style_conv1 = style_conv(channels[4], channels[4], None)
        self.to_rgb1 = to_rgb(channels[4], False)
        self.style_convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for layer_idx in range(self.num_layers):
            resolution = 2 ** ((layer_idx + 5) // 2)
            self.noises.register_buffer(f"noise{layer_idx}", torch.randn(1, 1, resolution, resolution))
        in_channels = channels[4]
        for log_res in range(3, self.log_size + 1):
            out_channels = channels[2**log_res]
            self.style_convs.append(style_conv(in_channels, out_channels, "upsample"))
            self.style_convs.append(style_conv(out_channels, out_channels, None))
            self.to_rgbs.append(to_rgb(out_channels, True))
            in_channels = out_channels

    # -- public helpers (official API) -------------------------------------------------------------------------------

    def make_noise(self) -> list[torch.Tensor]:
        """Fresh noise maps, one per layer: [(1,1,4,4), (1,1,8,8), (1,1,8,8), ...] on the generator's device."""
        device = self.constant_input.weight.device
        return [
            torch.randn(1, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2), device=device) for i in range(self.num_layers)
        ]

    def get_latent(self, x: torch.Tensor) -> torch.Tensor:
        """Map z (N, num_style_feat) to w (N, num_style_feat) with the style MLP."""
        return self.style_mlp(x)

    def mean_latent(self, num_latent: int) -> torch.Tensor:
        """Mean w of ``num_latent`` random z (1, num_style_feat), for truncation."""
        z = torch.randn(num_latent, self.num_style_feat, device=self.constant_input.weight.device)
        return self.style_mlp(z).mean(0, keepdim=True)

    # -- pieces of forward -------------------------------------------------------------------------------------------

    def _latent(
        self,
        styles: Sequence[torch.Tensor],
        input_is_latent: bool,
        truncation: float,
        truncation_latent: torch.Tensor | None,
        inject_index: int | None,
    ) -> torch.Tensor:
        """Styles -> W+ latent (N, num_latent, num_style_feat)."""
        if not isinstance(styles, (list, tuple)):
            raise TypeError(f"{type(self).__name__}: styles must be a list of tensors, got {type(styles).__name__}")
        if not input_is_latent:
            styles = [self.style_mlp(s) for s in styles]
        if truncation < 1:
            if truncation_latent is None:
                raise ValueError("truncation < 1 needs truncation_latent (e.g. generator.mean_latent(4096)).")
            styles = [truncation_latent + truncation * (s - truncation_latent) for s in styles]
        if len(styles) == 1:
            style = styles[0]
            return style if style.ndim == 3 else style.unsqueeze(1).repeat(1, self.num_latent, 1)
        if len(styles) == 2:  # style mixing
            if inject_index is None:
                inject_index = random.randint(1, self.num_latent - 1)
            first = styles[0].unsqueeze(1).repeat(1, inject_index, 1)
            second = styles[1].unsqueeze(1).repeat(1, self.num_latent - inject_index, 1)
            return torch.cat([first, second], 1)
        raise ValueError(f"{type(self).__name__}: expected 1 or 2 style tensors, got {len(styles)}")

    def _noise(
        self,
        noise: Sequence[torch.Tensor | None] | None,
        randomize_noise: bool,
        noise_generator: torch.Generator | None,
        batch: int,
        like: torch.Tensor,
    ) -> list[torch.Tensor | None]:
        """Per-layer noise: given list > generator draws > stored buffers (randomize_noise=False) > fresh (None)."""
        if noise is not None:
            return list(noise)
        if noise_generator is not None:
            out = []
            for i in range(self.num_layers):
                r = 2 ** ((i + 5) // 2)
                n = torch.randn(batch, 1, r, r, generator=noise_generator, device=noise_generator.device)
                out.append(n.to(device=like.device, dtype=like.dtype))
            return out
        if not randomize_noise:
            return [getattr(self.noises, f"noise{i}") for i in range(self.num_layers)]
        return [None] * self.num_layers

    def _synthesize(
        self,
        latent: torch.Tensor,
        noise: list[torch.Tensor | None],
        conditions: Sequence[torch.Tensor] | None = None,
        sft_half: bool = False,
    ) -> torch.Tensor:
        """W+ latent (N, num_latent, F) -> image (N, 3, out_size, out_size).

        ``conditions`` = [scale_0, shift_0, scale_1, shift_1, ...] (SFT, one pair per level from 8 px) are applied after
        the upsampling conv of each level: ``x * scale + shift`` on all channels, or on the second half if sft_half.
        """
        out = self.constant_input(latent.shape[0])
        out = self.style_conv1(out, latent[:, 0], noise=noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        for level, to_rgb in enumerate(self.to_rgbs):
            i = 2 * level + 1
            out = self.style_convs[2 * level](out, latent[:, i], noise=noise[i])
            if conditions is not None and 2 * level + 1 < len(conditions):
                scale, shift = conditions[2 * level], conditions[2 * level + 1]
                if inference_in_place():  # inference: in place, no concatenated copy
                    modulated = out[:, out.shape[1] // 2 :] if sft_half else out
                    torch.addcmul(shift, modulated, scale, out=modulated)  # one pass: x * scale + shift
                elif sft_half:
                    half = out.shape[1] // 2
                    out = torch.cat([out[:, :half], out[:, half:] * scale + shift], dim=1)
                else:
                    out = out * scale + shift
            out = self.style_convs[2 * level + 1](out, latent[:, i + 1], noise=noise[i + 1])
            skip = to_rgb(out, latent[:, i + 2], skip)
        return skip

    def forward(
        self,
        styles: Sequence[torch.Tensor],
        input_is_latent: bool = False,
        noise: Sequence[torch.Tensor | None] | None = None,
        randomize_noise: bool = True,
        truncation: float = 1,
        truncation_latent: torch.Tensor | None = None,
        inject_index: int | None = None,
        return_latents: bool = False,
        noise_generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Generate images.

        Args:
            styles: list of 1 or 2 tensors (N, num_style_feat) (z, or w if input_is_latent), or one W+ tensor
                (N, num_latent, num_style_feat); two styles are mixed at ``inject_index`` (random if None).
            input_is_latent: skip the style MLP.
            noise: explicit per-layer noise list (overrides everything else).
            randomize_noise: fresh Gaussian noise each call (official default); False uses ``noises.noise{i}``.
            truncation / truncation_latent: w <- w_mean + truncation * (w - w_mean) when truncation < 1.
            inject_index: style mixing crossover layer.
            return_latents: also return the W+ latent.
            noise_generator: draw fresh noise from this generator (deterministic, batch-sized).
        Returns:
            (image (N,3,out_size,out_size) float, roughly [-1,1], RGB; W+ latent or None).
        """
        latent = self._latent(styles, input_is_latent, truncation, truncation_latent, inject_index)
        noises = self._noise(noise, randomize_noise, noise_generator, latent.shape[0], latent)
        image = self._synthesize(latent, noises)
        return image, (latent if return_latents else None)


def _equal_style_mlp(num_style_feat: int, num_mlp: int, lr_mlp: float) -> nn.Sequential:
    """[NormStyleCode, EqualLinear(fused_lrelu) x num_mlp]: keys ``style_mlp.{1..num_mlp}.weight/bias``."""
    layers: list[nn.Module] = [NormStyleCode()]
    layers += [
        EqualLinear(num_style_feat, num_style_feat, lr_mul=lr_mlp, activation="fused_lrelu") for _ in range(num_mlp)
    ]
    return nn.Sequential(*layers)


@ARCHS.register()
class StyleGAN2Generator(StyleGAN2Base):
    """StyleGAN2 generator, original family (equalized lr, FIR [1,3,3,1] resampling, fused leaky ReLU).

    Args:
        out_size: output resolution, a power of two >= 8.
        num_style_feat: style (z/w) size.
        num_mlp: number of mapping layers.
        channel_multiplier: width multiplier for >= 64 px (1 for the GFP-GAN training decoder).
        resample_kernel: 1-D FIR taps.
        lr_mlp: mapping-network learning-rate multiplier.
        narrow: width ratio for all resolutions.
    """

    def __init__(
        self,
        out_size: int,
        num_style_feat: int = 512,
        num_mlp: int = 8,
        channel_multiplier: int = 2,
        resample_kernel: Sequence[int] = (1, 3, 3, 1),
        lr_mlp: float = 0.01,
        narrow: float = 1,
    ) -> None:
        super().__init__()
        self.num_style_feat = num_style_feat
        self.style_mlp = _equal_style_mlp(num_style_feat, num_mlp, lr_mlp)
        kernel = tuple(resample_kernel)
        self._build_synthesis(
            out_size,
            channels_for(channel_multiplier, narrow),
            lambda cin, cout, mode: StyleConv(cin, cout, 3, num_style_feat, True, mode, kernel),
            lambda cin, up: ToRGB(cin, num_style_feat, upsample=up, resample_kernel=kernel),
        )
