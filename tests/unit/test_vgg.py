"""VGGFeatureExtractor: BasicSR layer names, truncation, torchvision weight loading, pre-ReLU features, freezing."""

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision

from gfpgan.archs.vgg import VGG_LAYER_NAMES, VGGFeatureExtractor
from gfpgan.registry import ARCHS

# BasicSR's vgg19 names, written out (the reference list).
VGG19_NAMES = (
    "conv1_1 relu1_1 conv1_2 relu1_2 pool1 conv2_1 relu2_1 conv2_2 relu2_2 pool2 conv3_1 relu3_1 conv3_2 relu3_2 "
    "conv3_3 relu3_3 conv3_4 relu3_4 pool3 conv4_1 relu4_1 conv4_2 relu4_2 conv4_3 relu4_3 conv4_4 relu4_4 pool4 "
    "conv5_1 relu5_1 conv5_2 relu5_2 conv5_3 relu5_3 conv5_4 relu5_4 pool5"
).split()
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def _tiny_state(path, upto=7):
    """A seeded torchvision-format VGG19 state dict for features.0..upto (conv1_1 .. conv2_2)."""
    g = torch.Generator().manual_seed(0)
    convs = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128)]
    sd = {}
    for idx, cin, cout in convs:
        if idx <= upto:
            sd[f"features.{idx}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * math.sqrt(2 / (cin * 9))
            sd[f"features.{idx}.bias"] = torch.randn(cout, generator=g) * 0.1
    torch.save(sd, path)
    return sd


def test_layer_names():
    assert VGG_LAYER_NAMES["vgg19"] == VGG19_NAMES
    bn = VGG_LAYER_NAMES["vgg19_bn"]
    assert bn[:4] == ["conv1_1", "bn1_1", "relu1_1", "conv1_2"] and len(bn) == 37 + 16
    assert len(VGG_LAYER_NAMES["vgg11"]) == 21 and VGG_LAYER_NAMES["vgg11"][:3] == ["conv1_1", "relu1_1", "pool1"]
    assert len(VGG_LAYER_NAMES["vgg16"]) == 31


def test_truncation_keys_and_registry():
    m = VGGFeatureExtractor(["relu2_1", "conv1_2"], weights=None)
    assert list(m.vgg_net._modules) == VGG19_NAMES[: VGG19_NAMES.index("relu2_1") + 1]
    assert sorted(m.state_dict()) == sorted(
        ["mean", "std"] + [f"vgg_net.{n}.{p}" for n in ("conv1_1", "conv1_2", "conv2_1") for p in ("weight", "bias")]
    )
    built = ARCHS.build({"type": "VGGFeatureExtractor", "layer_name_list": ["conv1_1"], "weights": None}, where="t")
    assert isinstance(built, VGGFeatureExtractor)


def test_matches_torchvision_vgg19_features(tmp_path):
    """Same numbers as torchvision's vgg19 ``features`` stack, sliced at the BasicSR indices (an independent oracle).

    (``make_layers(cfgs["E"])`` is exactly ``torchvision.models.vgg19().features``, without the 4 s classifier init.)
    """
    torch.manual_seed(0)
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"]).eval()
    layers = ["conv1_2", "relu2_2", "pool3", "conv4_1"]
    path = tmp_path / "vgg19.pth"
    # a torchvision-format file with the layers up to conv4_1 (features.19): the extractor needs no more
    torch.save({f"features.{k}": v for k, v in features.state_dict().items() if int(k.split(".")[0]) <= 19}, path)
    m = VGGFeatureExtractor(layers, weights=str(path), range_norm=True)
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    out = m(x)
    assert list(out) == layers  # network order
    with torch.no_grad():
        h = ((x + 1) / 2 - MEAN) / STD
        for name in layers:
            expected = features[: VGG19_NAMES.index(name) + 1](h.clone())  # ends at the conv for conv*: pre-ReLU
            torch.testing.assert_close(out[name], expected, rtol=1e-5, atol=1e-5)
    assert (out["conv1_2"] < 0).any() and (out["relu2_2"] >= 0).all()


def test_input_norm_and_conv1_1(tmp_path):
    sd = _tiny_state(tmp_path / "tiny.pth", upto=0)
    x = torch.rand(1, 3, 8, 8)
    for range_norm, use_input_norm in [(False, True), (True, False), (False, False)]:
        m = VGGFeatureExtractor(["conv1_1"], weights=str(tmp_path / "tiny.pth"), range_norm=range_norm,
                                use_input_norm=use_input_norm)  # fmt: skip
        h = (x + 1) / 2 if range_norm else x
        h = (h - MEAN) / STD if use_input_norm else h
        expected = F.conv2d(h, sd["features.0.weight"], sd["features.0.bias"], padding=1)
        torch.testing.assert_close(m(x)["conv1_1"], expected, rtol=1e-5, atol=1e-5)


def test_frozen_and_trainable():
    m = VGGFeatureExtractor(["relu1_1"], vgg_type="vgg11_bn", weights=None)
    assert not any(p.requires_grad for p in m.parameters()) and not m.training
    m.train()
    assert not m.training and not m.vgg_net.bn1_1.training  # a frozen extractor stays in eval mode
    t = VGGFeatureExtractor(["bn1_1"], vgg_type="vgg11_bn", weights=None, requires_grad=True)
    assert all(p.requires_grad for p in t.parameters()) and t.training
    # gradients reach the input through a frozen extractor
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    m(x)["relu1_1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_pooling_options():
    x = torch.rand(1, 3, 16, 16)
    assert VGGFeatureExtractor(["conv2_1"], weights=None)(x)["conv2_1"].shape == (1, 128, 8, 8)
    assert VGGFeatureExtractor(["conv2_1"], weights=None, remove_pooling=True)(x)["conv2_1"].shape == (1, 128, 16, 16)
    assert VGGFeatureExtractor(["conv2_1"], weights=None, pooling_stride=1)(x)["conv2_1"].shape == (1, 128, 15, 15)
    assert "pool1" not in VGGFeatureExtractor(["conv2_1"], weights=None, remove_pooling=True).vgg_net._modules


def test_requested_conv_not_clobbered_by_inplace_relu():
    m = VGGFeatureExtractor(["conv1_1", "relu1_1"], weights=None)
    out = m(torch.rand(1, 3, 8, 8))
    torch.testing.assert_close(out["relu1_1"], out["conv1_1"].clamp_min(0))
    assert (out["conv1_1"] < 0).any()


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="conv5_4"):
        VGGFeatureExtractor(["conv5_5"], weights=None)
    with pytest.raises(ValueError, match="unknown vgg_type"):
        VGGFeatureExtractor(["conv1_1"], vgg_type="vgg20", weights=None)
    _tiny_state(tmp_path / "tiny.pth", upto=0)
    with pytest.raises(ValueError, match="does not fit"):  # conv1_2 is not in the file
        VGGFeatureExtractor(["conv1_2"], weights=str(tmp_path / "tiny.pth"))
    with pytest.raises(FileNotFoundError):
        VGGFeatureExtractor(["conv1_1"], weights=str(tmp_path / "missing.pth"))
