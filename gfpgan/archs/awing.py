"""AWing FAN: the 98-point WFLW face-landmark network used by the LMD metric, and its heatmap decoding.

The network is the four-stack hourglass "FAN" of Adaptive Wing Loss (Wang, Bo and Fuxin, ICCV 2019) as facexlib
ships it (``init_alignment_model('awing_fan')``, weights ``alignment_WFLW_4HG.pth``). The sub-module names below give
the same state-dict keys and shapes as facexlib's ``FAN(num_modules=4, num_landmarks=98)``, so the published file
loads strictly, unchanged.

Network, on a (N,3,256,256) float RGB input in [0,1]:
* a CoordConv stem: three coordinate maps (row, column, radius) are appended to the image, then a 7x7 stride-2
  convolution, BatchNorm, ReLU, a pre-activation ``ConvBlock``, 2x2 average pooling and two more blocks: 256 channels
  at 64x64;
* four hourglasses of depth 4 (average-pool down, nearest-neighbour up, a ``ConvBlock`` per branch). Each starts with
  a 1x1 CoordConv; from the second one on it also sees the row/column maps masked where the previous stack's
  boundary heatmap exceeds 0.05;
* after each hourglass, 99 heatmaps at 64x64 (98 landmarks + one face-boundary map); between stacks the features
  and the re-projected heatmaps are added back to the stack input.

:func:`decode_landmarks` turns the last stack's 98 landmark heatmaps into pixel coordinates exactly as facexlib's
``get_landmarks`` does (argmax, a quarter-pixel shift towards the larger neighbour, the half-pixel centre, then the
scale from the 64x64 heatmap to the image that was resized to 256x256).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["FAN", "HEATMAP_SIZE", "INPUT_SIZE", "NUM_LANDMARKS", "decode_landmarks"]

INPUT_SIZE = 256  # the network's input side (the stem's coordinate maps are built for it)
HEATMAP_SIZE = 64  # side of each heatmap: a quarter of the input
NUM_LANDMARKS = 98  # WFLW annotation
BOUNDARY_THRESHOLD = 0.05  # boundary-heatmap level above which the coordinate maps are passed to the next stack


def coordinate_maps(height: int, width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The CoordConv maps, each (1,1,height,width) float32.

    ``rows`` runs from -1 (top) to 1 (bottom), ``cols`` from -1 (left) to 1 (right); ``radius`` is
    ``sqrt(rows^2 + cols^2)`` divided by its maximum (so 1 in the corners). Computed with the same float32 operations
    as the reference (integer grid / (side - 1) * 2 - 1), so the values are bit-identical.
    """
    rows = (torch.arange(height, dtype=torch.float32, device=device) / (height - 1) * 2 - 1).view(1, 1, height, 1)
    cols = (torch.arange(width, dtype=torch.float32, device=device) / (width - 1) * 2 - 1).view(1, 1, 1, width)
    rows, cols = rows.expand(1, 1, height, width), cols.expand(1, 1, height, width)
    radius = torch.sqrt(torch.pow(rows, 2) + torch.pow(cols, 2))
    return rows, cols, radius / torch.max(radius)


class CoordConv(nn.Module):
    """A convolution that also sees coordinate maps: ``conv(cat[x, rows, cols, radius (, boundary rows/cols)])``.

    Args:
        in_channels: channels of ``x`` (the three coordinate maps, and two boundary maps when ``with_boundary``,
            are added to it).
        out_channels, kernel_size, stride, padding: of the convolution (with bias).
        with_boundary: the forward pass takes the previous stack's heatmaps and appends the row/column maps masked
            where its last (boundary) channel, clamped to [0,1], exceeds ``BOUNDARY_THRESHOLD``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        with_boundary: bool = False,
    ) -> None:
        super().__init__()
        self.with_boundary = with_boundary
        extra = 3 + (2 if with_boundary else 0)
        self.conv = nn.Conv2d(in_channels + extra, out_channels, kernel_size, stride=stride, padding=padding)

    def forward(self, x: torch.Tensor, heatmaps: torch.Tensor | None = None) -> torch.Tensor:
        """x: (N,C,H,W); heatmaps: (N,L+1,H,W) of the previous stack, required iff ``with_boundary``."""
        if self.with_boundary != (heatmaps is not None):
            raise ValueError("CoordConv: pass the previous heatmaps exactly when the layer was built with_boundary.")
        n, _, h, w = x.shape
        rows, cols, radius = coordinate_maps(h, w, x.device)
        maps = [x, rows.expand(n, -1, -1, -1), cols.expand(n, -1, -1, -1), radius.expand(n, -1, -1, -1)]
        if heatmaps is not None:
            inside = torch.clamp(heatmaps[:, -1:], 0.0, 1.0) > BOUNDARY_THRESHOLD
            zero = torch.zeros_like(rows)
            maps += [torch.where(inside, rows, zero), torch.where(inside, cols, zero)]
        return self.conv(torch.cat(maps, dim=1))


def _conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)


class ConvBlock(nn.Module):
    """Pre-activation residual block of the FAN: three chained BN-ReLU-conv3x3 with out/2, out/4 and out/4 channels,
    concatenated (out channels), plus the input (through BN-ReLU-conv1x1 when the channel count changes)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        half, quarter = out_channels // 2, out_channels // 4
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = _conv3x3(in_channels, half)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv2 = _conv3x3(half, quarter)
        self.bn3 = nn.BatchNorm2d(quarter)
        self.conv3 = _conv3x3(quarter, quarter)
        self.downsample: nn.Sequential | None = None
        if in_channels != out_channels:  # keys downsample.0 (BN) and downsample.2 (conv), as published
            self.downsample = nn.Sequential(
                nn.BatchNorm2d(in_channels), nn.ReLU(), nn.Conv2d(in_channels, out_channels, 1, bias=False)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = self.conv1(F.relu(self.bn1(x)))
        out2 = self.conv2(F.relu(self.bn2(out1)))
        out3 = self.conv3(F.relu(self.bn3(out2)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return torch.cat([out1, out2, out3], dim=1) + shortcut


class HourGlass(nn.Module):
    """One hourglass of ``depth`` levels on 256-channel features, preceded by a 1x1 CoordConv.

    Level ``k`` (from ``depth`` down to 1) has an upper branch ``b1_k`` at the current resolution and a lower branch:
    2x2 average pooling, ``b2_k``, the next level (``b2_plus_1`` at the bottom), ``b3_k``, nearest 2x upsampling; the
    two branches are added. Module names ``b1_k`` / ``b2_k`` / ``b2_plus_1`` / ``b3_k`` are the published keys.
    """

    def __init__(self, depth: int = 4, channels: int = 256, first: bool = False) -> None:
        super().__init__()
        self.depth = depth
        self.coordconv = CoordConv(channels, channels, kernel_size=1, with_boundary=not first)
        self._add_level(depth, channels)

    def _add_level(self, level: int, channels: int) -> None:
        # registered in the reference order, so that state_dict() lists the keys as the published file does
        self.add_module(f"b1_{level}", ConvBlock(channels, channels))
        self.add_module(f"b2_{level}", ConvBlock(channels, channels))
        if level > 1:
            self._add_level(level - 1, channels)
        else:
            self.add_module(f"b2_plus_{level}", ConvBlock(channels, channels))
        self.add_module(f"b3_{level}", ConvBlock(channels, channels))

    def _level(self, level: int, x: torch.Tensor) -> torch.Tensor:
        upper = self.get_submodule(f"b1_{level}")(x)
        lower = self.get_submodule(f"b2_{level}")(F.avg_pool2d(x, 2, stride=2))
        if level > 1:
            lower = self._level(level - 1, lower)
        else:
            lower = self.get_submodule(f"b2_plus_{level}")(lower)
        lower = self.get_submodule(f"b3_{level}")(lower)
        return upper + F.interpolate(lower, scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor, heatmaps: torch.Tensor | None = None) -> torch.Tensor:
        """x: (N,256,64,64); heatmaps: the previous stack's (N,L+1,64,64), None for the first hourglass."""
        return self._level(self.depth, self.coordconv(x, heatmaps))


class FAN(nn.Module):
    """The AWing face-alignment network (stacked hourglasses with CoordConv and boundary maps); inference only.

    Args:
        num_modules: hourglass stacks (4 in ``alignment_WFLW_4HG.pth``).
        num_landmarks: landmark heatmaps per stack (98 for WFLW); each stack also outputs one boundary heatmap.

    ``forward`` takes (N,3,256,256) float32 **RGB** in [0,1] (the uint8 image resized to 256x256, divided by 255) and
    returns each stack's heatmaps, a list of ``num_modules`` tensors (N,num_landmarks+1,64,64), the boundary heatmap
    last; the landmarks come from the last stack (:func:`decode_landmarks`).
    """

    def __init__(self, num_modules: int = 4, num_landmarks: int = NUM_LANDMARKS) -> None:
        super().__init__()
        self.num_modules, self.num_landmarks = num_modules, num_landmarks
        # stem: 256x256 -> 128x128 (stride-2 conv) -> 64x64 (average pooling after conv2)
        self.conv1 = CoordConv(3, 64, kernel_size=7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = ConvBlock(64, 128)
        self.conv3 = ConvBlock(128, 128)
        self.conv4 = ConvBlock(128, 256)
        heatmap_channels = num_landmarks + 1
        for i in range(num_modules):
            self.add_module(f"m{i}", HourGlass(depth=4, channels=256, first=i == 0))
            self.add_module(f"top_m_{i}", ConvBlock(256, 256))
            self.add_module(f"conv_last{i}", nn.Conv2d(256, 256, 1))
            self.add_module(f"bn_end{i}", nn.BatchNorm2d(256))
            self.add_module(f"l{i}", nn.Conv2d(256, heatmap_channels, 1))
            if i < num_modules - 1:  # re-projections of the features and heatmaps into the next stack's input
                self.add_module(f"bl{i}", nn.Conv2d(256, 256, 1))
                self.add_module(f"al{i}", nn.Conv2d(heatmap_channels, 256, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"FAN expects (N,3,{INPUT_SIZE},{INPUT_SIZE}) inputs, got {tuple(x.shape)}.")
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.avg_pool2d(self.conv2(x), 2, stride=2)
        features = self.conv4(self.conv3(x))
        outputs: list[torch.Tensor] = []
        heatmaps: torch.Tensor | None = None
        for i in range(self.num_modules):
            hg = self.get_submodule(f"m{i}")(features, heatmaps)
            ll = self.get_submodule(f"top_m_{i}")(hg)
            ll = F.relu(self.get_submodule(f"bn_end{i}")(self.get_submodule(f"conv_last{i}")(ll)))
            heatmaps = self.get_submodule(f"l{i}")(ll)
            outputs.append(heatmaps)
            if i < self.num_modules - 1:
                # the same summation order as the reference: (features + bl(ll)) + al(heatmaps)
                features = features + self.get_submodule(f"bl{i}")(ll) + self.get_submodule(f"al{i}")(heatmaps)
        return outputs


def decode_landmarks(heatmaps: torch.Tensor, image_sizes: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Landmark coordinates from heatmaps, as facexlib's ``FAN.get_landmarks`` (``calculate_points``) computes them.

    Per image and landmark: the argmax of the heatmap (the first one on ties), row-major index ``i`` with
    ``(x, y) = (i % w, i // w)``; then ``0.25 * sign`` of the difference of the neighbours on each axis is added, and
    0.5 (the pixel centre); finally x is scaled by ``width / w`` and y by ``height / h`` (heatmap -> image pixels).

    The neighbours are read on the flattened heatmap, with the reference's edge rules kept so that the result matches
    it everywhere it is defined: the x neighbours are ``i - 1`` and ``i + 1`` (wrapping across rows; ``i - 1`` at the
    first pixel reads the last one, as numpy's index -1 does); the y neighbours are ``i - w`` and ``i + w``, except
    that when **any** landmark of the image has ``i + w`` past the end, every landmark of that image uses the last
    pixel instead of its ``i + w`` (and when any has ``i - w <= 0``, every one uses pixel 0 instead of ``i - w``).
    The reference crashes when the argmax is the very last pixel (``i + 1`` out of range); there the pixel itself is
    used as its right neighbour.

    Args:
        heatmaps: (N,L,h,w) landmark heatmaps (the boundary channel removed), any float dtype and device.
        image_sizes: the (height, width) of each of the N original images, in pixels.
    Returns:
        (N,L,2) float64 (x, y) in pixels of the original images, on the CPU.
    """
    n, num, h, w = heatmaps.shape
    if len(image_sizes) != n:
        raise ValueError(f"decode_landmarks: {n} heatmap sets but {len(image_sizes)} image sizes.")
    flat = heatmaps.detach().reshape(n, num, h * w).cpu()
    last = h * w - 1
    index = flat.argmax(dim=2)  # (N,L)

    def at(i: torch.Tensor) -> torch.Tensor:
        return flat.gather(2, i.unsqueeze(2)).squeeze(2)

    x_next = at(torch.clamp(index + 1, max=last))
    x_prev = at(torch.remainder(index - 1, h * w))
    below_outside = (index + w > last).any(dim=1, keepdim=True)  # per image, as the reference's any() on one image
    above_outside = (index - w <= 0).any(dim=1, keepdim=True)
    y_next = torch.where(below_outside, flat[:, :, last], at(torch.clamp(index + w, max=last)))
    y_prev = torch.where(above_outside, flat[:, :, 0], at(torch.clamp(index - w, min=0)))
    shift = 0.25 * torch.sign(torch.stack([x_next - x_prev, y_next - y_prev], dim=2)).double()
    points = torch.stack([index % w, index // w], dim=2).double() + shift + 0.5
    scale = torch.tensor([[width / w, height / h] for height, width in image_sizes], dtype=torch.float64)
    return points * scale[:, None, :]
