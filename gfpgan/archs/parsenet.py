"""ParseNet face parser (PSFR-GAN's parsing network), checkpoint-compatible with the released ``parsing_parsenet.pth``.

A fully convolutional encoder / residual body / decoder on a [-1, 1] RGB face. For the released configuration
(``in_size = out_size = 512``): a 3x3 stem to 64 channels, four downsampling residual blocks (64 -> 128 -> 256 -> 256
-> 256 channels, 1/16 resolution), ten residual blocks added back onto their input, four upsampling residual blocks
(256 -> 256 -> 256 -> 128 -> 64 channels), then two 3x3 heads: 19 parsing logits and a 3-channel image.

Every convolution is 3x3 with reflection padding. Residual blocks: conv + BatchNorm + LeakyReLU(0.2), then conv +
BatchNorm, added to a shortcut that is the identity, or (when the shape changes) a plain biased convolution. Resampling
happens inside the convolutions: stride 2 in the second convolution (and the shortcut) to go down, nearest 2x
upsampling before the first convolution (and the shortcut) to go up.

``forward`` returns ``(parsing_logits, image)``; the face-parsing classes are 0 background, 1 skin, 2/3 brows, 4/5 eyes,
6 glasses, 7/8 ears, 9 earring, 10 nose, 11 mouth, 12/13 lips, 14 neck, 15 necklace, 16 cloth, 17 hair, 18 hat.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ParseNet"]

Resample = Literal["none", "down", "up"]


class _BatchNormSlot(nn.Module):
    """Holds the BatchNorm as ``.norm`` (the released keys read ``<conv unit>.norm.norm.*``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


class _ConvUnit(nn.Module):
    """[nearest 2x upsample] -> reflection pad -> 3x3 conv (stride 2 for "down") [-> BatchNorm] [-> LeakyReLU(0.2)].

    The convolution has a bias only without BatchNorm.
    """

    def __init__(
        self, in_ch: int, out_ch: int, resample: Resample = "none", batch_norm: bool = False, act: bool = False
    ) -> None:
        super().__init__()
        self.upsample = resample == "up"
        self.conv2d = nn.Conv2d(in_ch, out_ch, 3, stride=2 if resample == "down" else 1, bias=not batch_norm)
        self.norm = _BatchNormSlot(out_ch) if batch_norm else nn.Identity()
        self.relu = nn.LeakyReLU(0.2, inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"))
        return self.relu(self.norm(x))


class _ResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, resample: Resample = "none") -> None:
        super().__init__()
        # identity shortcut when nothing changes, else a plain (biased, unnormalised) resampling convolution
        self.shortcut_func = (
            nn.Identity() if resample == "none" and in_ch == out_ch else _ConvUnit(in_ch, out_ch, resample)
        )
        self.conv1 = _ConvUnit(in_ch, out_ch, "up" if resample == "up" else "none", batch_norm=True, act=True)
        self.conv2 = _ConvUnit(out_ch, out_ch, "down" if resample == "down" else "none", batch_norm=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut_func(x) + self.conv2(self.conv1(x))


class ParseNet(nn.Module):
    """Face parsing network. Input (N, 3, H, W) RGB in [-1, 1], H and W multiples of ``in_size / min_feat_size``.

    Args:
        in_size, out_size: training resolutions; they fix the number of down / up steps to reach ``min_feat_size``.
        parsing_ch: number of parsing classes.
        base_ch: stem channels; each down step doubles and each up step halves them, clipped to ``ch_range``.
        res_depth: residual blocks at the lowest resolution.
    """

    def __init__(
        self,
        in_size: int = 128,
        out_size: int = 128,
        min_feat_size: int = 32,
        base_ch: int = 64,
        parsing_ch: int = 19,
        res_depth: int = 10,
        ch_range: tuple[int, int] = (32, 256),
    ) -> None:
        super().__init__()
        lo, hi = ch_range

        def clip(c: int) -> int:
            return max(lo, min(c, hi))

        min_feat_size = min(in_size, min_feat_size)
        n_down = (in_size // min_feat_size).bit_length() - 1  # floor(log2)
        n_up = (out_size // min_feat_size).bit_length() - 1

        ch = base_ch
        encoder: list[nn.Module] = [_ConvUnit(3, base_ch)]
        for _ in range(n_down):
            encoder.append(_ResBlock(clip(ch), clip(ch * 2), "down"))
            ch *= 2
        self.encoder = nn.Sequential(*encoder)
        self.body = nn.Sequential(*(_ResBlock(clip(ch), clip(ch)) for _ in range(res_depth)))
        decoder: list[nn.Module] = []
        for _ in range(n_up):
            decoder.append(_ResBlock(clip(ch), clip(ch // 2), "up"))
            ch //= 2
        self.decoder = nn.Sequential(*decoder)
        self.out_img_conv = _ConvUnit(clip(ch), 3)
        self.out_mask_conv = _ConvUnit(clip(ch), parsing_ch)

    def forward(self, x: torch.Tensor, with_image: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(parsing logits (N, parsing_ch, H, W), reconstructed image (N, 3, H, W) or None when ``with_image`` is
        False: the paste-back mask needs only the logits)."""
        feat = self.encoder(x)
        x = self.decoder(feat + self.body(feat))
        return self.out_mask_conv(x), self.out_img_conv(x) if with_image else None

    def fold_batch_norm(self) -> ParseNet:
        """Fold every eval-mode BatchNorm into the convolution before it, for inference (one pass less per unit;
        outputs equal up to float rounding). The state dict loses the ``norm`` keys: fold after loading."""
        from torch.nn.utils.fusion import fuse_conv_bn_eval

        if self.training:
            raise RuntimeError("ParseNet.fold_batch_norm needs eval mode (the running statistics are folded).")
        for unit in self.modules():
            if isinstance(unit, _ConvUnit) and isinstance(unit.norm, _BatchNormSlot):
                unit.conv2d = fuse_conv_bn_eval(unit.conv2d, unit.norm.norm)
                unit.norm = nn.Identity()
        return self
