"""VGG feature extractor for the perceptual and style losses (BasicSR ``VGGFeatureExtractor`` semantics).

The layers are torchvision's VGG definitions (``torchvision.models.vgg.cfgs`` / ``make_layers``), given BasicSR's
names (``conv1_1``, ``relu1_1``, ``pool1``, ..., with ``bn*`` after every conv for the ``*_bn`` types) and truncated
after the deepest requested layer, so nothing past it is built or computed. The module keys therefore match the
reference (``vgg_net.conv1_1.weight``, buffers ``mean`` / ``std``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models import vgg as tv_vgg

from gfpgan.registry import ARCHS, suggest
from gfpgan.utils.state_dict import safe_load
from gfpgan.utils.weights import KNOWN_WEIGHTS, get_weights_path

__all__ = ["VGG_LAYER_NAMES", "VGGFeatureExtractor", "vgg_layer_names"]

# torchvision config letter for each VGG depth.
_TORCHVISION_CFG = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}


def vgg_layer_names(vgg_type: str) -> list[str]:
    """BasicSR names of ``torchvision.models.<vgg_type>().features``, in order (e.g. conv1_1, relu1_1, conv1_2, ...)."""
    base = vgg_type.removesuffix("_bn")
    if base not in _TORCHVISION_CFG:
        raise ValueError(
            f"unknown vgg_type {vgg_type!r}; use one of {', '.join(f'{t}, {t}_bn' for t in _TORCHVISION_CFG)}."
        )
    batch_norm = vgg_type.endswith("_bn")
    names = []
    block, index = 1, 1
    for item in tv_vgg.cfgs[_TORCHVISION_CFG[base]]:
        if item == "M":
            names.append(f"pool{block}")
            block, index = block + 1, 1
        else:
            names.append(f"conv{block}_{index}")
            if batch_norm:
                names.append(f"bn{block}_{index}")
            names.append(f"relu{block}_{index}")
            index += 1
    return names


VGG_LAYER_NAMES = {t: vgg_layer_names(t) for base in _TORCHVISION_CFG for t in (base, f"{base}_bn")}


@ARCHS.register()
class VGGFeatureExtractor(nn.Module):
    """Frozen VGG returning the features of the requested layers.

    Args:
        layer_name_list: layers to return, e.g. ``["conv1_2", "conv5_4"]`` (``conv*`` = conv output before its ReLU).
        vgg_type: vgg11 | vgg13 | vgg16 | vgg19, optionally with ``_bn``.
        use_input_norm: normalise the [0,1] input with the ImageNet mean/std.
        range_norm: map a [-1,1] input to [0,1] first.
        requires_grad: train the VGG; if False its parameters are frozen and it stays in eval mode.
        remove_pooling: drop the max-pooling layers.
        pooling_stride: stride of the (2x2) max-pooling layers.
        weights: a KNOWN_WEIGHTS name (default: torchvision's ImageNet VGG19, ``vgg19-dcbb9e9d.pth``) or a path to a
            torchvision VGG state dict (keys ``features.N.weight``); ``None`` keeps the random torchvision-style
            initialisation (tests only).
    """

    def __init__(
        self,
        layer_name_list: Sequence[str],
        vgg_type: str = "vgg19",
        use_input_norm: bool = True,
        range_norm: bool = False,
        requires_grad: bool = False,
        remove_pooling: bool = False,
        pooling_stride: int = 2,
        weights: str | None = "vgg19-dcbb9e9d",
    ) -> None:
        super().__init__()
        names = vgg_layer_names(vgg_type)
        if not layer_name_list:
            raise ValueError("VGGFeatureExtractor: layer_name_list is empty; name at least one layer, e.g. 'conv5_4'.")
        for name in layer_name_list:
            if name not in names:
                raise ValueError(
                    f"VGGFeatureExtractor: {vgg_type} has no layer {name!r}.{suggest(name, names)} "
                    f"Layers: {', '.join(names)}."
                )
        self.layer_name_list = list(layer_name_list)
        self.use_input_norm = use_input_norm
        self.range_norm = range_norm
        self.requires_grad = requires_grad

        last = max(names.index(name) for name in layer_name_list)
        cfg = tv_vgg.cfgs[_TORCHVISION_CFG[vgg_type.removesuffix("_bn")]]
        features = tv_vgg.make_layers(cfg, batch_norm=vgg_type.endswith("_bn"))[: last + 1]
        _init_like_torchvision(features)
        if weights is not None:
            _load_features(features, weights, vgg_type)

        wanted = set(self.layer_name_list)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for i, (name, layer) in enumerate(zip(names, features)):
            if name.startswith("pool"):
                if remove_pooling:
                    continue
                layer = nn.MaxPool2d(kernel_size=2, stride=pooling_stride)
            elif isinstance(layer, nn.ReLU) and names[i - 1] in wanted:
                # The previous layer's output is returned: an in-place ReLU would overwrite it.
                layer = nn.ReLU(inplace=False)
            layers[name] = layer
        self.vgg_net = nn.Sequential(layers)

        if use_input_norm:
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

        self.requires_grad_(requires_grad)
        self.train(requires_grad)

    def train(self, mode: bool = True) -> VGGFeatureExtractor:
        # A frozen extractor stays in eval mode (matters for the *_bn types) even inside a module put in train mode.
        return super().train(mode and self.requires_grad)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features of ``x``.

        Args:
            x: (N,3,H,W) float RGB, in [0,1] (or [-1,1] with ``range_norm``).
        Returns:
            ``{layer name: (N,C,h,w) feature}`` for every name of ``layer_name_list``, in network order.
        """
        if self.range_norm:
            x = (x + 1) / 2
        if self.use_input_norm:
            x = (x - self.mean) / self.std
        out = {}
        for name, layer in self.vgg_net.named_children():
            x = layer(x)
            if name in self.layer_name_list:
                out[name] = x
        return out


def _init_like_torchvision(features: nn.Sequential) -> None:
    """The initialisation of ``torchvision.models.VGG`` (kaiming-normal fan_out convs, zero biases, unit BN)."""
    for m in features.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


def _load_features(features: nn.Sequential, weights: str, vgg_type: str) -> None:
    """Load the ``features.N.*`` entries of a torchvision VGG state dict into the truncated ``features``."""
    key = weights.removesuffix(".pth")
    path = get_weights_path(key) if key in KNOWN_WEIGHTS else get_weights_path(weights, local_path=weights)
    state = safe_load(path)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    own = features.state_dict()
    try:
        features.load_state_dict({k: state[f"features.{k}"] for k in own})
    except (KeyError, RuntimeError) as e:
        raise ValueError(
            f"VGGFeatureExtractor: {path} does not fit vgg_type={vgg_type!r} ({type(e).__name__}: "
            f"{str(e).splitlines()[0][:200]}). Give a torchvision {vgg_type} state dict (keys 'features.N.weight')."
        ) from e
