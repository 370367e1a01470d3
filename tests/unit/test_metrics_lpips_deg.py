"""LPIPS against the `lpips` package with the same seeded weights; Deg with a seeded random ArcFace."""

from __future__ import annotations

import warnings

import lpips as lpips_package
import numpy as np
import pytest
import torch
import torchvision
from test_metrics_seeded import seeded_images, seeded_state_dict

from gfpgan.metrics.identity import identity_input
from gfpgan.registry import METRICS


def to_tensor(imgs: list[np.ndarray]) -> torch.Tensor:
    return torch.stack([torch.from_numpy(i).permute(2, 0, 1) for i in imgs]).float() / 255


@pytest.fixture(scope="module")
def lpips_reference() -> tuple[torch.nn.Module, dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = lpips_package.LPIPS(net="alex", pretrained=False, pnet_rand=True, verbose=False).eval()
    state = seeded_state_dict({k: tuple(v.shape) for k, v in model.state_dict().items()}, seed=3)
    state["scaling_layer.shift"] = model.state_dict()["scaling_layer.shift"]  # fixed constants of v0.1
    state["scaling_layer.scale"] = model.state_dict()["scaling_layer.scale"]
    for k in range(5):  # lin{k} and lins.{k} are the same parameters
        state[f"lins.{k}.model.1.weight"] = state[f"lin{k}.model.1.weight"]
    model.load_state_dict(state)
    return model, state


def test_lpips_full_state_dict_matches_package(lpips_reference, tmp_path):
    model, state = lpips_reference
    torch.save(state, tmp_path / "lpips_alex.pth")
    metric = METRICS.build({"type": "lpips", "net": "alex", "weights": str(tmp_path / "lpips_alex.pth")}, "m")
    restored, gt = seeded_images(20, 3, 64, 64), seeded_images(21, 3, 64, 64)
    for r, g in zip(restored, gt):
        metric.update(r, g)
    with torch.no_grad():
        expected = model(to_tensor(restored) * 2 - 1, to_tensor(gt) * 2 - 1).flatten().tolist()
    np.testing.assert_allclose(metric.per_image, expected, atol=1e-5)
    assert metric.compute() == pytest.approx(np.mean(expected), abs=1e-5)
    assert metric.better == "lower" and metric.protocol()["net"] == "alex"
    # RGB order matters, identical images score 0
    swapped = METRICS.build({"type": "lpips", "net": "alex", "weights": str(tmp_path / "lpips_alex.pth")}, "m")
    swapped.update(restored[0][..., ::-1].copy(), gt[0][..., ::-1].copy())
    swapped.update(gt[0], gt[0])
    assert swapped.per_image[0] != pytest.approx(expected[0], abs=1e-5)
    assert swapped.per_image[1] == pytest.approx(0, abs=1e-7)
    # the batched path (tensors in [0,1]) agrees
    batched = METRICS.build({"type": "lpips", "net": "alex", "weights": str(tmp_path / "lpips_alex.pth")}, "m")
    batched.update_batch(to_tensor(restored), to_tensor(gt))
    np.testing.assert_allclose(batched.per_image, expected, atol=1e-5)


def test_lpips_backbone_from_registry_and_package_linear_layers(lpips_reference, tmp_path, monkeypatch):
    """Without a full state dict: torchvision AlexNet file from the weights registry + the package's linear layers."""
    backbone = seeded_state_dict(
        {k: tuple(v.shape) for k, v in torchvision.models.alexnet().state_dict().items()}, seed=4
    )
    torch.save(backbone, tmp_path / "alexnet-owt-7be5be79.pth")
    monkeypatch.setenv("GFPGAN_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("GFPGAN_OFFLINE", "1")
    metric = METRICS.build({"type": "lpips", "net": "alex"}, "m")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = lpips_package.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False).eval()
    for _name, module in reference.net.named_children():  # sliceK.{i} <- features.{i}
        for index, layer in module.named_children():
            if isinstance(layer, torch.nn.Conv2d):
                layer.weight.data.copy_(backbone[f"features.{index}.weight"])
                layer.bias.data.copy_(backbone[f"features.{index}.bias"])
    restored, gt = seeded_images(22, 2, 48, 40), seeded_images(23, 2, 48, 40)
    for r, g in zip(restored, gt):
        metric.update(r, g)
    with torch.no_grad():
        expected = reference(to_tensor(restored) * 2 - 1, to_tensor(gt) * 2 - 1).flatten().tolist()
    np.testing.assert_allclose(metric.per_image, expected, atol=1e-5)


def test_lpips_wrong_file_is_a_clear_error(tmp_path):
    torch.save({"x": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="not a full lpips.LPIPS"):
        METRICS.build({"type": "lpips", "net": "alex", "weights": str(tmp_path / "bad.pth")}, "m")


@pytest.fixture(scope="module")
def arcface_file(tmp_path_factory):
    from gfpgan.archs.arcface import ResNetArcFace

    net = ResNetArcFace(block="IRBlock", layers=[2, 2, 2, 2], use_se=False)
    state = seeded_state_dict({k: tuple(v.shape) for k, v in net.state_dict().items()}, seed=5)
    path = tmp_path_factory.mktemp("deg") / "arcface_seeded.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, path)  # DataParallel prefixes, as the release file
    net.load_state_dict(state)
    return path, net.eval()


def test_deg_matches_direct_angle(arcface_file):
    from gfpgan.losses.identity import gray_resize_for_identity

    path, net = arcface_file
    restored, gt = seeded_images(30, 3, 96, 80), seeded_images(31, 3, 96, 80)
    metric = METRICS.build({"type": "deg", "weights": str(path)}, "val.metrics.deg")
    for r, g in zip(restored, gt):
        metric.update(r, g)
    # the input is exactly the identity loss's preparation of a [-1,1] image
    torch.testing.assert_close(
        identity_input(to_tensor(restored)), gray_resize_for_identity(to_tensor(restored) * 2 - 1)
    )
    with torch.no_grad():
        a = net(gray_resize_for_identity(to_tensor(restored) * 2 - 1)).double().numpy()
        b = net(gray_resize_for_identity(to_tensor(gt) * 2 - 1)).double().numpy()
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    expected = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    np.testing.assert_allclose(metric.per_image, expected, rtol=1e-5)
    assert metric.compute() == pytest.approx(expected.mean(), rel=1e-5)
    assert metric.protocol()["unit"] == "degree" and metric.better == "lower"

    radians = METRICS.build({"type": "deg", "weights": str(path), "unit": "radian"}, "m")
    skipping = METRICS.build({"type": "deg", "weights": str(path), "skip_below_deg": 1.0}, "m")
    for m in (radians, skipping):
        m.update(restored[0], gt[0])
        m.update(gt[1], gt[1])  # the same face: angle ~0 (skipped by the 1-degree protocol)
    assert radians.per_image[0] == pytest.approx(np.radians(expected[0]), rel=1e-5)
    assert skipping.per_image[1] == pytest.approx(0, abs=0.05)
    assert skipping.compute() == pytest.approx(expected[0], rel=1e-5)  # the mean leaves the identical pair out
