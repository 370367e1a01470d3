"""Pure-PyTorch versions of the two StyleGAN2 custom ops: FIR resampling (``upfirdn2d``) and fused bias + leaky ReLU.

BasicSR ships both as CUDA extensions (``fused_leaky_relu`` has no CPU path at all). Both are simple enough to write
with standard ops that run on any device, work under ``torch.compile``/``torch.autocast`` and need no build step:

- ``upfirdn2d`` = zero-insertion upsampling, padding (negative = crop), FIR filtering, strided downsampling, as one
  padded depthwise convolution (or one depthwise transposed convolution when upsampling).
- ``fused_leaky_relu(x, b) = leaky_relu(x + b, 0.2) * sqrt(2)`` in one expression.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "SQRT2",
    "FIRFilter",
    "FusedLeakyReLU",
    "ScaledLeakyReLU",
    "channels_for",
    "ChannelsLastSafe",
    "check_out_size",
    "fused_leaky_relu",
    "inference_in_place",
    "make_resample_kernel",
    "upfirdn2d",
]

SQRT2 = math.sqrt(2.0)


def inference_in_place() -> bool:
    """True where a forward may overwrite its own intermediate tensors: no autograd graph is being recorded (so
    nothing needs the overwritten values) and no TorchScript trace is running (the ONNX exporter records an in-place
    update of a slice as a copy). The inference paths use it to fuse passes; training keeps the reference's order of
    operations."""
    return not torch.is_grad_enabled() and not torch.jit.is_tracing()


def check_out_size(out_size: int, owner: str, minimum: int = 8) -> int:
    """Return log2(out_size), or raise a ValueError naming ``owner`` when it is not a power of two >= minimum."""
    if not isinstance(out_size, int) or out_size < minimum or out_size & (out_size - 1):
        raise ValueError(f"{owner}: out_size must be a power of two >= {minimum}, got {out_size!r}.")
    return int(math.log2(out_size))


def channels_for(channel_multiplier: float, narrow: float) -> dict[int, int]:
    """StyleGAN2 channel count per resolution (4..2048), scaled by ``narrow`` (the official ``channels`` table)."""
    base = {4: 512, 8: 512, 16: 512, 32: 512}
    wide = {64: 256, 128: 128, 256: 64, 512: 32, 1024: 16, 2048: 8}
    table = {r: int(c * narrow) for r, c in base.items()}
    table.update({r: int(c * channel_multiplier * narrow) for r, c in wide.items()})
    return table


def make_resample_kernel(kernel: Sequence[float], gain: float = 1.0) -> torch.Tensor:
    """1-D FIR taps normalised so that their outer product sums to ``gain**2`` (the official 2-D kernel is the
    outer product of the 1-D taps divided by its sum, times ``factor**2`` when upsampling)."""
    k = torch.as_tensor(list(kernel), dtype=torch.float32)
    if k.ndim != 1:
        raise ValueError(f"resample_kernel must be a 1-D list of taps, got shape {tuple(k.shape)}")
    return k / k.sum() * gain


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)):
    """Upsample by zero insertion, pad, filter with the FIR ``kernel`` and downsample (same on both axes).

    Args:
        x: (N,C,H,W) tensor.
        kernel: 2-D kernel (K,K) or 1-D separable taps (K,); true convolution (the kernel is flipped).
        up / down: integer factors.
        pad: (before, after) padding applied after upsampling; negative values crop.
    Returns:
        (N,C,(H*up+p0+p1-K)//down+1, (W*up+p0+p1-K)//down+1) tensor.
    """
    n, c, h, w = x.shape
    kernel = kernel.to(dtype=x.dtype, device=x.device)
    if kernel.ndim == 1:
        kernel = torch.outer(kernel, kernel)
    k = kernel.shape[0]
    p0, p1 = pad
    if up > 1 and down == 1 and h == w:
        # Zero insertion + FIR = a depthwise stride-`up` transposed conv with the unflipped kernel: no zero-filled
        # intermediate (about 3x faster on CPU). Used whenever the output size can be matched exactly.
        q = k - 1 - p0
        extra = (h * up + p0 + p1 - k + 1) - ((h - 1) * up - 2 * q + k)
        if q >= 0 and 0 <= extra < up:
            weight = kernel[None, None].expand(c, 1, k, k)
            return F.conv_transpose2d(x, weight, stride=up, padding=q, output_padding=extra, groups=c)
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    if p0 > 0 or p1 > 0:
        x = F.pad(x, [max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)])
    if p0 < 0 or p1 < 0:
        x = x[:, :, max(-p0, 0) : x.shape[2] - max(-p1, 0), max(-p0, 0) : x.shape[3] - max(-p1, 0)]
    # One depthwise pass with the 2-D kernel: on CPU it beats two separable 1-D passes (one read of x instead of two).
    return F.conv2d(x, kernel.flip([0, 1])[None, None].expand(c, 1, k, k), stride=down, groups=c)


class FIRFilter(nn.Module):
    """``upfirdn2d`` with a fixed kernel (BasicSR's UpFirDnSmooth / UpFirDnUpsample / UpFirDnDownsample).

    The kernel is a non-persistent buffer: it follows ``.to(device)`` but is not in the state dict, like upstream.
    """

    def __init__(
        self, kernel: Sequence[float], pad: tuple[int, int], up: int = 1, down: int = 1, gain: float | None = None
    ) -> None:
        super().__init__()
        # gain is per axis (the 2-D kernel sums to gain**2); zero-insertion upsampling needs gain = up.
        taps = make_resample_kernel(kernel, gain=float(up if gain is None else gain))
        self.register_buffer("kernel", torch.outer(taps, taps), persistent=False)
        self.pad = (int(pad[0]), int(pad[1]))
        self.up = up
        self.down = down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.up, down=self.down, pad=self.pad)

    def extra_repr(self) -> str:
        return f"up={self.up}, down={self.down}, pad={self.pad}, kernel={tuple(self.kernel.shape)}"

    @classmethod
    def smooth_after_upsample(cls, kernel: Sequence[float], conv_kernel_size: int, factor: int = 2) -> FIRFilter:
        """Blur after a stride-``factor`` transposed conv of size ``conv_kernel_size`` (output = factor * input)."""
        p = (len(kernel) - factor) - (conv_kernel_size - 1)
        return cls(kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), gain=factor)

    @classmethod
    def smooth_before_downsample(cls, kernel: Sequence[float], conv_kernel_size: int, factor: int = 2) -> FIRFilter:
        """Blur before a stride-``factor`` conv of size ``conv_kernel_size`` with no padding of its own."""
        p = (len(kernel) - factor) + (conv_kernel_size - 1)
        return cls(kernel, pad=((p + 1) // 2, p // 2))

    @classmethod
    def upsample(cls, kernel: Sequence[float], factor: int = 2) -> FIRFilter:
        """FIR upsampling by ``factor`` (output = factor * input)."""
        p = len(kernel) - factor
        return cls(kernel, pad=((p + 1) // 2 + factor - 1, p // 2), up=factor)


def fused_leaky_relu(
    x: torch.Tensor, bias: torch.Tensor | None, negative_slope: float = 0.2, scale: float = SQRT2
) -> torch.Tensor:
    """``leaky_relu(x + bias, negative_slope) * scale`` with a per-channel ``bias`` (C,) on dim 1 of ``x``."""
    if bias is not None:
        x = x + bias.view((1, -1) + (1,) * (x.ndim - 2))
    return F.leaky_relu(x, negative_slope) * scale


class FusedLeakyReLU(nn.Module):
    """Bias + leaky ReLU(0.2) * sqrt(2); holds the per-channel ``bias`` (C,) (official key ``...activate.bias``)."""

    def __init__(self, channels: int, negative_slope: float = 0.2, scale: float = SQRT2) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.negative_slope = negative_slope
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)


class ScaledLeakyReLU(nn.Module):
    """leaky_relu(x, 0.2) * sqrt(2) (no parameters)."""

    def __init__(self, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, self.negative_slope) * SQRT2


class ChannelsLastSafe(nn.Module):
    """``module.to(memory_format=torch.channels_last)`` that works with the 5-D modulated-conv weights.

    PyTorch applies the memory format to every 4-D and 5-D parameter, and a 5-D tensor has no ``channels_last``
    layout (RuntimeError upstream too). Here device/dtype moves happen as usual and the format is applied to the
    4-D parameters and buffers only (the 5-D weights are reshaped per call anyway).
    """

    def to(self, *args, **kwargs):  # type: ignore[override]
        memory_format = kwargs.pop("memory_format", None)
        module = super().to(*args, **kwargs) if (args or kwargs) else self
        if memory_format is not None:
            for tensor in list(module.parameters()) + list(module.buffers()):
                if tensor.ndim == 4:
                    tensor.data = tensor.data.contiguous(memory_format=memory_format)
        return module
