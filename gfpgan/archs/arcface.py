"""ResNet ArcFace (the identity-preserving loss network): 1-channel 128x128 input, 512-d unnormalised embedding.

Official key layout (``arcface_resnet18.pth`` = IRBlock, layers [2,2,2,2], use_se False). Differences from upstream,
which only accepted ``block='IRBlock'`` and crashed with the other blocks: every block takes ``use_se``, and
Bottleneck stacks track their expanded channel count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from gfpgan.registry import ARCHS

__all__ = ["BasicBlock", "Bottleneck", "IRBlock", "ResNetArcFace", "SEBlock"]


def conv3x3(inplanes: int, outplanes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inplanes, outplanes, kernel_size=3, stride=stride, padding=1, bias=False)


class SEBlock(nn.Module):
    """Squeeze-and-excitation: x * sigmoid(fc(avgpool(x)))."""

    def __init__(self, channel: int, reduction: int = 16) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channel, channel // reduction),
            nn.PReLU(),
            nn.Linear(channel // reduction, channel),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(self.avg_pool(x).flatten(1))[:, :, None, None]


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN (+SE) + residual, ReLU."""

    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, use_se: bool = False
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.use_se = use_se
        if use_se:
            self.se = SEBlock(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.use_se:
            out = self.se(out)
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class IRBlock(nn.Module):
    """Improved residual block: BN-conv3x3-BN-PReLU-conv3x3(stride)-BN (+SE) + residual, PReLU (shared)."""

    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, use_se: bool = True
    ) -> None:
        super().__init__()
        self.bn0 = nn.BatchNorm2d(inplanes)
        self.conv1 = conv3x3(inplanes, inplanes)
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.prelu = nn.PReLU()
        self.conv2 = conv3x3(inplanes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.use_se = use_se
        if use_se:
            self.se = SEBlock(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.prelu(self.bn1(self.conv1(self.bn0(x))))
        out = self.bn2(self.conv2(out))
        if self.use_se:
            out = self.se(out)
        residual = x if self.downsample is None else self.downsample(x)
        return self.prelu(out + residual)


class Bottleneck(nn.Module):
    """1x1-3x3(stride)-1x1 (x4 channels) bottleneck (+SE) + residual, ReLU."""

    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, use_se: bool = False
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.use_se = use_se
        if use_se:
            self.se = SEBlock(planes * self.expansion)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.use_se:
            out = self.se(out)
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


_BLOCKS: dict[str, type[nn.Module]] = {"IRBlock": IRBlock, "BasicBlock": BasicBlock, "Bottleneck": Bottleneck}


@ARCHS.register()
class ResNetArcFace(nn.Module):
    """ArcFace ResNet.

    Args:
        block: "IRBlock" (official), "BasicBlock" or "Bottleneck" (a block class is accepted too).
        layers: blocks per stage (4 stages of 64, 128, 256, 512 channels).
        use_se: squeeze-and-excitation in every block (the official identity network uses False).

    Input (N,1,128,128) gray float; GFP-GAN feeds the gray image in [-1,1] (see the identity loss).
    Output (N,512) embedding (not normalised).
    """

    def __init__(
        self,
        block: Literal["IRBlock", "BasicBlock", "Bottleneck"] = "IRBlock",
        layers: Sequence[int] = (2, 2, 2, 2),
        use_se: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(block, str):
            if block not in _BLOCKS:
                raise ValueError(f"ResNetArcFace: block must be one of {sorted(_BLOCKS)}, got {block!r}")
            block = _BLOCKS[block]
        if len(layers) != 4:
            raise ValueError(f"ResNetArcFace: layers must have 4 entries, got {list(layers)}")
        self.inplanes = 64
        self.use_se = use_se
        self.conv1 = nn.Conv2d(1, 64, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.prelu = nn.PReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.bn4 = nn.BatchNorm2d(self.inplanes)
        self.dropout = nn.Dropout()
        self.fc5 = nn.Linear(self.inplanes * 8 * 8, 512)
        self.bn5 = nn.BatchNorm1d(512)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block: type[nn.Module], planes: int, num_blocks: int, stride: int = 1) -> nn.Sequential:
        out_channels = planes * block.expansion
        downsample = None
        if stride != 1 or self.inplanes != out_channels:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        blocks = [block(self.inplanes, planes, stride, downsample, use_se=self.use_se)]
        self.inplanes = out_channels
        blocks += [block(self.inplanes, planes, use_se=self.use_se) for _ in range(1, num_blocks)]
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N,1,128,128) gray -> (N,512) identity embedding."""
        x = self.maxpool(self.prelu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(self.bn4(x))
        return self.bn5(self.fc5(x.flatten(1)))
