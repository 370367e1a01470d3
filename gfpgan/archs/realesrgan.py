"""Real-ESRGAN super-resolution networks (background upsampling), key-compatible with the official release files.

Two networks, both on (N,3,H,W) float RGB in [0,1] (the trained range; nothing is clamped here):

- :class:`RRDBNet` (ESRGAN's generator; RealESRGAN_x4plus.pth, RealESRGAN_x2plus.pth, weights under ``params_ema``):
  a 3x3 stem to ``num_feat`` channels, ``num_block`` residual-in-residual dense blocks (RRDB) and a 3x3 conv added
  back onto the stem features, then two (nearest 2x upsample, 3x3 conv, LeakyReLU 0.2) stages, a 3x3 conv with
  LeakyReLU and a 3x3 conv to ``num_out_ch``. The body always upsamples 4x; for ``scale`` 2 (1) the input is first
  pixel-unshuffled by 2 (4), so the stem sees 4x (16x) the channels at half (quarter) resolution: H and W must be
  multiples of 2 (4), see ``size_multiple``.
  An RRDB is three residual dense blocks (RDB) in a chain, its output scaled by 0.2 and added to its input. An RDB has
  five 3x3 convs; conv k sees the concatenation of the block input and the outputs of convs 1..k-1 (each
  ``num_grow_ch`` channels, LeakyReLU 0.2), conv 5 returns to ``num_feat`` channels (no activation), scaled by 0.2
  and added to the block input.
- :class:`SRVGGNetCompact` (realesr-general-x4v3.pth, realesr-animevideov3.pth, weights under ``params``): a plain
  stack of 3x3 convs at the input resolution (``num_conv`` + 2 convs, each but the last followed by an activation),
  the last conv giving ``num_out_ch * upscale**2`` channels, pixel shuffle, plus the nearest-upsampled input.

State-dict keys and shapes are exactly the official ones (checked against tests/data/realesrgan_golden.json):
``conv_first``, ``body.<i>.rdb<1-3>.conv<1-5>``, ``conv_body``, ``conv_up1``, ``conv_up2``, ``conv_hr``, ``conv_last``
for RRDBNet (RealESRGAN_x4plus: 16,697,987 parameters); ``body.<2k>`` (convs) and ``body.<2k+1>`` (PReLU slopes, for
``act_type="prelu"`` only) for SRVGGNetCompact.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from gfpgan.registry import ARCHS

__all__ = ["RRDB", "RRDBNet", "ResidualDenseBlock", "SRVGGNetCompact"]

_RESIDUAL_SCALE = 0.2  # ESRGAN's residual scaling in both RDB and RRDB


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs; ``x + 0.2 * conv5(...)``. (N,num_feat,H,W) -> same shape."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        # conv k (1-based) reads the block input and the k-1 earlier growth outputs
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            features.append(F.leaky_relu(conv(torch.cat(features, 1)), 0.2))
        return x + _RESIDUAL_SCALE * self.conv5(torch.cat(features, 1))


class RRDB(nn.Module):
    """Residual in residual dense block: ``x + 0.2 * rdb3(rdb2(rdb1(x)))``. (N,num_feat,H,W) -> same shape."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + _RESIDUAL_SCALE * self.rdb3(self.rdb2(self.rdb1(x)))


@ARCHS.register()
class RRDBNet(nn.Module):
    """ESRGAN generator as trained by Real-ESRGAN (RealESRGAN_x4plus: scale 4; RealESRGAN_x2plus: scale 2).

    Args:
        num_in_ch: image channels (3 for the released models); the stem sees ``num_in_ch * 4`` (scale 2) or
            ``num_in_ch * 16`` (scale 1) channels after the pixel unshuffle.
        num_out_ch: output channels.
        scale: 4, 2 or 1 (the output is ``scale`` x the input size).
        num_feat: trunk channels.
        num_block: number of RRDBs (23 in the released models).
        num_grow_ch: channels added by each dense conv.

    Input (N,num_in_ch,H,W) float RGB in [0,1], H and W multiples of ``size_multiple``; output
    (N,num_out_ch,scale*H,scale*W) float RGB, roughly [0,1] (not clamped).
    """

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        scale: Literal[1, 2, 4] = 4,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
    ) -> None:
        super().__init__()
        if scale not in (1, 2, 4):
            raise ValueError(f"RRDBNet: scale must be 1, 2 or 4, got {scale!r}.")
        self.scale = scale
        # the trunk always upsamples 4x: scale 2 and 1 first trade resolution for channels
        self.unshuffle = 4 // scale
        self.size_multiple = self.unshuffle
        self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle**2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N,C,H,W) float RGB in [0,1] -> (N,num_out_ch,scale*H,scale*W)."""
        h, w = x.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise ValueError(
                f"RRDBNet(scale={self.scale}): input {h}x{w} must have H and W divisible by {self.size_multiple}; "
                "pad the image (gfpgan.upsample.BackgroundUpsampler does)."
            )
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)  # channel order c * r**2 + i * r + j, as the official one
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = F.leaky_relu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        feat = F.leaky_relu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))


def _activation(act_type: str, num_feat: int) -> nn.Module:
    if act_type == "prelu":
        return nn.PReLU(num_parameters=num_feat)  # one learned slope per channel (keys body.<odd>.weight)
    if act_type == "relu":
        return nn.ReLU(inplace=True)
    if act_type == "leakyrelu":
        return nn.LeakyReLU(negative_slope=0.1, inplace=True)
    raise ValueError(f"SRVGGNetCompact: act_type must be 'prelu', 'relu' or 'leakyrelu', got {act_type!r}.")


@ARCHS.register()
class SRVGGNetCompact(nn.Module):
    """Compact VGG-style super-resolution network (realesr-general-x4v3: num_conv 32; realesr-animevideov3: 16).

    All convolutions run at the input resolution; the last one makes ``num_out_ch * upscale**2`` channels that a
    pixel shuffle turns into the output, to which the nearest-upsampled input is added (the network learns a residual).

    Args:
        num_in_ch: input channels (3).
        num_out_ch: output channels (3; must equal ``num_in_ch`` for the residual).
        num_feat: channels of every hidden conv.
        num_conv: hidden 3x3 convs between the first and the last one.
        upscale: output scale.
        act_type: "prelu" (the released models; per-channel slopes), "relu" or "leakyrelu" (slope 0.1).

    Input (N,num_in_ch,H,W) float RGB in [0,1], any H, W; output (N,num_out_ch,upscale*H,upscale*W), roughly [0,1].
    """

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_conv: int = 16,
        upscale: int = 4,
        act_type: Literal["prelu", "relu", "leakyrelu"] = "prelu",
    ) -> None:
        super().__init__()
        if num_in_ch != num_out_ch:
            raise ValueError(
                f"SRVGGNetCompact: num_in_ch ({num_in_ch}) must equal num_out_ch ({num_out_ch}) because the upsampled "
                "input is added to the output."
            )
        self.upscale = upscale
        self.scale = upscale  # the name BackgroundUpsampler reads for both networks
        self.size_multiple = 1
        self.act_type = act_type
        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), _activation(act_type, num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), _activation(act_type, num_feat)]
        layers.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.ModuleList(layers)  # a ModuleList (not Sequential) only for the official key names
        self.upsampler = nn.PixelShuffle(upscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N,C,H,W) float RGB in [0,1] -> (N,C,upscale*H,upscale*W)."""
        out = x
        for layer in self.body:
            out = layer(out)
        return self.upsampler(out) + F.interpolate(x, scale_factor=self.upscale, mode="nearest")
