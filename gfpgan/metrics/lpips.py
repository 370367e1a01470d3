"""LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric"), version 0.1,
on RGB images scaled to [-1,1]: our own module, with the state-dict layout of ``lpips.LPIPS(net, version='0.1')``.

The distance between two images: both go through a fixed per-channel affine map (the ImageNet normalisation expressed
for inputs in [-1,1]) and an ImageNet backbone (the ``features`` of torchvision's VGG16 or AlexNet), read after five
ReLU stages; each stage's activations are unit-normalised over channels, the two images' squared difference is
weighted per channel by a learnt 1x1 convolution without bias (the "linear layers", calibrated on human judgements),
averaged over space, and the five stages are summed. The result has shape (N,1,1,1).

Weights never download by themselves: either a full state dict (backbone + linear layers, the layout of the ``lpips``
package, which loads unchanged) comes from ``weights``, or the torchvision ImageNet backbone comes from the weights
registry (``alexnet-owt-7be5be79`` / ``vgg16-397923af``) and the official v0.1 linear layers from it as well
(``lpips_v0.1_alex`` / ``lpips_v0.1_vgg``, the files published with the paper); offline directories are searched first.
GFPGAN-era face papers (and BasicSR's calculate_lpips.py) use the VGG backbone, the default here; pyiqa uses AlexNet.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn

from gfpgan.metrics.base import Metric, image_to_tensor, quantize_like_png
from gfpgan.registry import METRICS
from gfpgan.utils.state_dict import safe_load
from gfpgan.utils.weights import get_weights_path

__all__ = ["LPIPS", "LPIPSNet", "build_lpips"]

_BACKBONE_WEIGHTS = {"alex": "alexnet-owt-7be5be79", "vgg": "vgg16-397923af"}
_LINEAR_WEIGHTS = {"alex": "lpips_v0.1_alex", "vgg": "lpips_v0.1_vgg"}

# ImageNet mean/std, 0.5*(mean,std) style, for inputs in [-1,1]: x' = (x - shift) / scale.
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10  # added to the channel norm before dividing


def _vgg16_features() -> tuple[list[nn.Module], tuple[int, ...], tuple[int, ...]]:
    """torchvision VGG16 ``features`` up to relu5_3 (indices 0..29), stage ends after relu1_2, 2_2, 3_3, 4_3, 5_3."""
    layers: list[nn.Module] = []
    channels = 3
    for width, convs in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        if layers:
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        for _ in range(convs):
            layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = width
    return layers, (4, 9, 16, 23, 30), (64, 128, 256, 512, 512)


def _alexnet_features() -> tuple[list[nn.Module], tuple[int, ...], tuple[int, ...]]:
    """torchvision AlexNet ``features`` up to the fifth ReLU (indices 0..11), one stage per ReLU."""
    layers: list[nn.Module] = [
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
    ]
    return layers, (2, 5, 8, 10, 12), (64, 192, 384, 256, 256)


_BACKBONES = {"alex": _alexnet_features, "vgg": _vgg16_features}


class _InputNorm(nn.Module):
    """The fixed per-channel affine map in front of the backbone (buffers ``shift`` and ``scale``, (1,3,1,1))."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale


class _Stages(nn.Module):
    """The backbone cut into five ``slice{k}`` sequentials whose children keep their torchvision ``features`` index."""

    def __init__(self, net: str) -> None:
        super().__init__()
        layers, ends, self.channels = _BACKBONES[net]()
        start = 0
        for k, end in enumerate(ends, 1):
            stage = nn.Sequential()
            for index in range(start, end):
                stage.add_module(str(index), layers[index])
            self.add_module(f"slice{k}", stage)
            start = end

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for k in range(1, 6):
            x = getattr(self, f"slice{k}")(x)
            out.append(x)  # every next stage begins with a pooling or a convolution: the in-place ReLUs are safe
        return out


class _ChannelWeights(nn.Module):
    """Per-channel weights as a 1x1 convolution without bias, behind a dropout (``model.0`` / ``model.1``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LPIPSNet(nn.Module):
    """LPIPS v0.1 distance ``model(x, y)`` between RGB batches (N,3,H,W) in [-1,1]; returns (N,1,1,1).

    State-dict keys equal ``lpips.LPIPS(net=net, version='0.1')``'s: ``scaling_layer.{shift,scale}``,
    ``net.slice{1..5}.{i}.{weight,bias}`` (``i`` = the torchvision ``features`` index), ``lin{0..4}.model.1.weight``
    and, as the same parameters a second time, ``lins.{0..4}.model.1.weight``. Built with random weights.
    """

    def __init__(self, net: Literal["alex", "vgg"] = "vgg") -> None:
        super().__init__()
        if net not in _BACKBONES:
            raise ValueError(f"LPIPS net must be one of {sorted(_BACKBONES)}, got {net!r}")
        self.net_type = net
        self.scaling_layer = _InputNorm()
        self.net = _Stages(net)
        for k, channels in enumerate(self.net.channels):
            self.add_module(f"lin{k}", _ChannelWeights(channels))
        self.lins = nn.ModuleList([getattr(self, f"lin{k}") for k in range(5)])

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fx = self.net(self.scaling_layer(x))
        fy = self.net(self.scaling_layer(y))
        total = 0
        for a, b, lin in zip(fx, fy, self.lins):
            a = a / (a.square().sum(dim=1, keepdim=True).sqrt() + _EPS)
            b = b / (b.square().sum(dim=1, keepdim=True).sqrt() + _EPS)
            total = total + lin((a - b).square()).mean(dim=(2, 3), keepdim=True)
        return total

    def load_backbone(self, backbone: dict[str, torch.Tensor]) -> None:
        """Copy a torchvision VGG16/AlexNet state dict (``features.{i}.weight/bias``; the classifier is ignored)."""
        state = {}
        for key in self.state_dict():
            if key.startswith("net."):
                _, _, index, kind = key.split(".")
                source = f"features.{index}.{kind}"
                if source not in backbone:
                    raise ValueError(f"torchvision backbone file lacks {source!r} (needed for LPIPS {key!r}).")
                state[key] = backbone[source]
        self._load_part(state, "torchvision backbone")

    def load_linear_layers(self, linear: dict[str, torch.Tensor]) -> None:
        """Copy the official v0.1 linear-layer file (``lin{k}.model.1.weight``, k = 0..4)."""
        state = {}
        for k in range(5):
            key = f"lin{k}.model.1.weight"
            if key not in linear:
                raise ValueError(f"LPIPS linear-layer file lacks {key!r} (keys: {sorted(linear)[:8]}).")
            state[key] = linear[key]
        self._load_part(state, "LPIPS linear-layer")

    def _load_part(self, part: dict[str, torch.Tensor], what: str) -> None:
        own = self.state_dict()
        for key, value in part.items():
            if tuple(value.shape) != tuple(own[key].shape):
                raise ValueError(
                    f"{what} file: {key!r} has shape {tuple(value.shape)}, LPIPS({self.net_type!r}) expects "
                    f"{tuple(own[key].shape)}."
                )
        with torch.no_grad():
            for key, value in part.items():
                own[key].copy_(value)  # state_dict() tensors share storage with the parameters


def build_lpips(net: Literal["alex", "vgg"] = "vgg", weights: str | None = None) -> LPIPSNet:
    """An LPIPS v0.1 model (:class:`LPIPSNet`) in eval mode on the CPU, without any download.

    Args:
        net: backbone, 'alex' or 'vgg'.
        weights: a file with a full ``lpips.LPIPS`` state dict (loaded strictly); without it the torchvision
            backbone and the official v0.1 linear layers come from the weights registry.
    """
    if net not in _BACKBONES:
        raise ValueError(f"LPIPS net must be one of {sorted(_BACKBONES)}, got {net!r}")
    model = LPIPSNet(net)
    if weights is not None:
        state = safe_load(get_weights_path("lpips", local_path=weights))
        try:
            if not isinstance(state, dict):
                raise RuntimeError(f"the file holds a {type(state).__name__}, not a state dict")
            model.load_state_dict(state)
        except RuntimeError as e:
            raise ValueError(
                f"{weights}: not a full lpips.LPIPS(net={net!r}) state dict ({_first_problem(e)}). "
                f"Save one with torch.save(LPIPSNet({net!r}).state_dict(), path) (the lpips package's "
                f"lpips.LPIPS(net={net!r}).state_dict() has the same layout), or omit the file."
            ) from None
    else:
        backbone = safe_load(get_weights_path(_BACKBONE_WEIGHTS[net]))
        model.load_backbone(backbone)
        linear = safe_load(get_weights_path(_LINEAR_WEIGHTS[net]))
        model.load_linear_layers(linear)
    return model.eval().requires_grad_(False)


def _first_problem(error: RuntimeError) -> str:
    """The first informative line of a load_state_dict error, shortened."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    line = lines[1] if len(lines) > 1 and lines[0].startswith("Error(s) in loading") else (lines or ["?"])[0]
    return line if len(line) <= 200 else line[:197] + "..."


@METRICS.register("lpips")
class LPIPS(Metric):
    """LPIPS per image pair (lower is better). Images (H,W,3) uint8 RGB, scaled to [-1,1]; batched internally."""

    name = "lpips"
    default_better = "lower"
    needs_gt = True

    def __init__(
        self,
        net: Literal["alex", "vgg"] = "vgg",
        weights: str | None = None,
        batch_size: int = 8,
        device: str | torch.device = "cpu",
        better: Literal["higher", "lower"] | None = None,
    ) -> None:
        super().__init__(device=device, better=better)
        self.net = net
        self.weights = weights
        self.batch_size = batch_size
        self.model = build_lpips(net, weights).to(self.device)
        self._pending: list[tuple[torch.Tensor, torch.Tensor]] = []

    def reset(self) -> None:
        super().reset()
        self._pending = []

    def update(self, restored: np.ndarray, gt: np.ndarray | None) -> None:
        self._check_pair(restored, gt)
        pair = (image_to_tensor(restored, self.device), image_to_tensor(gt, self.device))
        if self._pending and self._pending[0][0].shape != pair[0].shape:
            self._flush()
        self._pending.append(pair)
        if len(self._pending) >= self.batch_size:
            self._flush()

    @torch.no_grad()
    def update_batch(self, restored: torch.Tensor, gt: torch.Tensor) -> None:
        """(N,3,H,W) RGB in [0,1]: quantised to 8 bits (as saved images), then scored in one batch."""
        self._flush()
        a = quantize_like_png(restored.to(self.device)).float()
        b = quantize_like_png(gt.to(self.device)).float()
        self._values.extend(self.model(a * 2 - 1, b * 2 - 1).flatten().tolist())

    @torch.no_grad()
    def _flush(self) -> None:
        if not self._pending:
            return
        a = torch.cat([p[0] for p in self._pending])
        b = torch.cat([p[1] for p in self._pending])
        self._pending = []
        self._values.extend(self.model(a * 2 - 1, b * 2 - 1).flatten().tolist())

    def protocol(self) -> dict:
        return {
            "metric": "lpips",
            "implementation": "LPIPS v0.1 (gfpgan LPIPSNet, lpips-package weight layout)",
            "net": self.net,
            "weights": self.weights or f"torchvision {_BACKBONE_WEIGHTS[self.net]} + lpips v0.1 linear layers",
            "channels": "RGB",
            "input_range": "[-1,1]",
        }
