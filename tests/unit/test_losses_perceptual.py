"""Perceptual/style loss: Gram by hand, an independent feature-level formula, and golden numbers of the reference."""

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision

from gfpgan.losses.perceptual import PerceptualLoss, gram_matrix
from gfpgan.registry import LOSSES

LAYER_WEIGHTS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0}
# BasicSR 1.4.2 PerceptualLoss (l2 with the upstream fix, MSE) on tiny_vgg_state() weights and the inputs below,
# range_norm True, perceptual_weight 1, style_weight 50: (percep, style).
REFERENCE = {
    "l1": (0.8632653951644897, 0.12073273211717606),
    "l2": (1.1964795589447021, 0.0005022669793106616),
    "fro": (87.11832427978516, 33.99842834472656),
}
CONVS = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256), (14, 256, 256)]
CONVS.append((16, 256, 256))


def tiny_vgg_state():
    """Seeded VGG19 conv weights for features.0 .. features.16 (conv1_1 .. conv3_4), torchvision key format."""
    g = torch.Generator().manual_seed(1234)
    sd = {}
    for idx, cin, cout in CONVS:
        sd[f"features.{idx}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * math.sqrt(2 / (cin * 9))
        sd[f"features.{idx}.bias"] = torch.randn(cout, generator=g) * 0.01
    return sd


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vgg") / "tiny_vgg19.pth"
    torch.save(tiny_vgg_state(), path)
    return str(path)


def _inputs():
    g = torch.Generator().manual_seed(99)
    x = torch.rand(1, 3, 16, 16, generator=g) * 2 - 1
    gt = torch.rand(1, 3, 16, 16, generator=g) * 2 - 1
    return x, gt


def test_gram_matrix_by_hand():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # c=2, h=1, w=2
    expected = torch.tensor([[1 + 4, 3 + 8], [3 + 8, 9 + 16]]) / (2 * 1 * 2)
    torch.testing.assert_close(gram_matrix(x), expected.view(1, 2, 2))


@pytest.mark.parametrize("criterion", ["l1", "l2", "fro"])
def test_matches_reference_golden(vgg_file, criterion):
    loss = PerceptualLoss(LAYER_WEIGHTS, range_norm=True, style_weight=50.0, criterion=criterion, vgg_weights=vgg_file)
    percep, style = loss(*_inputs())
    assert percep.item() == pytest.approx(REFERENCE[criterion][0], rel=1e-5)
    assert style.item() == pytest.approx(REFERENCE[criterion][1], rel=1e-5)


def test_independent_formula(vgg_file):
    """Features from torchvision's vgg19 stack (not our module), then the loss written out."""
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])[:17]
    features.load_state_dict({k.removeprefix("features."): v for k, v in tiny_vgg_state().items()})
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    index = {"conv1_2": 2, "conv2_2": 7, "conv3_4": 16}
    x, gt = _inputs()

    def feats(img):
        h = ((img + 1) / 2 - mean) / std
        return {k: features[: i + 1](h.clone()) for k, i in index.items()}

    with torch.no_grad():
        fx, fg = feats(x), feats(gt)
    w = LAYER_WEIGHTS
    percep = sum(w[k] * (fx[k] - fg[k]).abs().mean() for k in w) * 2.0
    style = sum(w[k] * (gram_matrix(fx[k]) - gram_matrix(fg[k])).abs().mean() for k in w) * 3.0
    loss = PerceptualLoss(LAYER_WEIGHTS, range_norm=True, perceptual_weight=2.0, style_weight=3.0, vgg_weights=vgg_file)
    p, s = loss(x, gt)
    assert p.item() == pytest.approx(percep.item(), rel=1e-5)
    assert s.item() == pytest.approx(style.item(), rel=1e-5)


def test_zero_weights_return_none_and_gt_side_has_no_graph(vgg_file):
    loss = PerceptualLoss({"conv1_2": 1.0}, vgg_weights=vgg_file)
    x, gt = _inputs()
    x.requires_grad_(True)
    gt.requires_grad_(True)
    grad_modes = []
    loss.vgg.register_forward_pre_hook(lambda module, args: grad_modes.append(torch.is_grad_enabled()))
    percep, style = loss(x, gt)
    assert style is None and grad_modes == [True, False]  # x with autograd, GT without
    percep.backward()
    assert x.grad is not None and gt.grad is None
    p0, s0 = PerceptualLoss({"conv1_2": 1.0}, perceptual_weight=0.0, style_weight=1.0, vgg_weights=vgg_file)(x, gt)
    assert p0 is None and s0 is not None
    # identical images: zero loss
    p_same, _ = loss(gt.detach(), gt.detach())
    assert p_same.item() == 0.0


def test_registry_build(vgg_file):
    spec = {
        "type": "PerceptualLoss",
        "layer_weights": {"conv1_2": "0.1", "conv3_4": 1},
        "perceptual_weight": 1,
        "style_weight": 50,
        "range_norm": True,
        "criterion": "l1",
        "vgg_weights": vgg_file,
    }
    loss = LOSSES.build(spec, where="train.perceptual_opt")
    assert loss.layer_weights == {"conv1_2": 0.1, "conv3_4": 1.0} and loss.style_weight == 50.0
    with pytest.raises(ValueError, match="criterion"):
        LOSSES.build({**spec, "criterion": "l3"}, where="train.perceptual_opt")


def test_fro_is_frobenius_norm(vgg_file):
    loss = PerceptualLoss({"conv1_1": 1.0}, criterion="fro", use_input_norm=False, vgg_weights=vgg_file)
    x, gt = _inputs()
    sd = tiny_vgg_state()
    fx = F.conv2d(x, sd["features.0.weight"], sd["features.0.bias"], padding=1)
    fg = F.conv2d(gt, sd["features.0.weight"], sd["features.0.bias"], padding=1)
    assert loss(x, gt)[0].item() == pytest.approx(((fx - fg) ** 2).sum().sqrt().item(), rel=1e-5)
