"""LPIPS v0.1 (our LPIPSNet) against golden numbers of the `lpips` package with the same seeded weights (written by
benchmarks/reference_check/make_lpips_golden.py into tests/data/metrics_lpips_golden.json); Deg with a seeded random
ArcFace. The package is never needed: one optional direct cross-check skips without it."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from test_metrics_seeded import seeded_images, seeded_state_dict

from gfpgan.metrics.identity import identity_input
from gfpgan.metrics.lpips import LPIPSNet, build_lpips
from gfpgan.registry import METRICS
from gfpgan.utils.weights import KNOWN_WEIGHTS, WeightsNotFoundError, sha256sum

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "data" / "metrics_lpips_golden.json").read_text())
NETS = ("vgg", "alex")


def to_tensor(imgs: list[np.ndarray]) -> torch.Tensor:
    return torch.stack([torch.from_numpy(i).permute(2, 0, 1) for i in imgs]).float() / 255


def seeded_lpips_state(net: str) -> dict[str, torch.Tensor]:
    """The golden file's weights (same recipe as make_lpips_golden.py): seeded_state_dict over every key but the
    fixed scaling constants and the duplicate ``lins.*``, absolute linear layers, ``lins.{k}`` = ``lin{k}``."""
    own = LPIPSNet(net).state_dict()
    drawn = {k: tuple(v.shape) for k, v in own.items() if not k.startswith(("scaling_layer.", "lins."))}
    state = seeded_state_dict(drawn, seed=GOLDEN["seeds"][net])
    for key in list(state):
        if key.startswith("lin"):
            state[key] = state[key].abs()
    for k in range(5):
        state[f"lins.{k}.model.1.weight"] = state[f"lin{k}.model.1.weight"]
    state.update({k: v for k, v in own.items() if k.startswith("scaling_layer.")})
    return state


def golden_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    """The image pairs of the golden values, in order."""
    pairs = []
    for seed_a, seed_b, count, h, w in GOLDEN["pairs"]:
        pairs += list(zip(seeded_images(seed_a, count, h, w), seeded_images(seed_b, count, h, w)))
    seed, h, w, shift = GOLDEN["shifted"]
    img = seeded_images(seed, 1, h, w)[0]
    return pairs + [(img, np.roll(img, shift, axis=1))]


@pytest.fixture(scope="module")
def full_state_files(tmp_path_factory) -> dict[str, Path]:
    """A full lpips.LPIPS-layout state dict per net, as torch.save(lpips.LPIPS(net).state_dict()) writes it."""
    root = tmp_path_factory.mktemp("lpips")
    files = {}
    for net in NETS:
        files[net] = root / f"lpips_{net}_seeded.pth"
        torch.save(seeded_lpips_state(net), files[net])
    return files


@pytest.mark.parametrize("net", NETS)
def test_lpips_state_dict_layout_equals_the_package(net):
    model = LPIPSNet(net)
    assert [f"{k}:{tuple(v.shape)}" for k, v in model.state_dict().items()] == GOLDEN[net]["keys"]
    for key, value in GOLDEN[net]["scaling_layer"].items():
        assert model.state_dict()[key].flatten().tolist() == value  # the fixed constants, bit for bit
    assert model.lins[3] is model.lin3  # lins.{k} and lin{k} are the same parameters
    assert not any(k.startswith("scaling_layer.") for k, _ in model.named_parameters())


@pytest.mark.parametrize("net", NETS)
def test_lpips_matches_package_goldens(net):
    model = LPIPSNet(net).eval()
    model.load_state_dict(seeded_lpips_state(net))
    pairs = golden_pairs()
    with torch.no_grad():
        values = [float(model(to_tensor([a]) * 2 - 1, to_tensor([b]) * 2 - 1)) for a, b in pairs]
        same = model(to_tensor([pairs[0][1]]) * 2 - 1, to_tensor([pairs[0][1]]) * 2 - 1)
    np.testing.assert_allclose(values, GOLDEN[net]["values"], rtol=0, atol=1e-5)
    assert same.shape == (1, 1, 1, 1) and float(same) == pytest.approx(0, abs=1e-7)


@pytest.mark.parametrize("net", NETS)
def test_lpips_metric_with_full_state_dict_file(net, full_state_files):
    spec = {"type": "lpips", "net": net, "weights": str(full_state_files[net])}
    metric = METRICS.build(spec, "m")
    pairs = golden_pairs()
    for a, b in pairs:
        metric.update(a, b)
    expected = GOLDEN[net]["values"]
    np.testing.assert_allclose(metric.per_image, expected, rtol=0, atol=1e-5)
    assert metric.compute() == pytest.approx(np.mean(expected), abs=1e-5)
    assert metric.better == "lower" and metric.protocol()["net"] == net
    assert set(metric.protocol()) == {"metric", "implementation", "net", "weights", "channels", "input_range"}
    # the batched path (tensors in [0,1], same-size pairs) agrees
    batched = METRICS.build(spec, "m")
    count = GOLDEN["pairs"][0][2]
    batched.update_batch(to_tensor([a for a, _ in pairs[:count]]), to_tensor([b for _, b in pairs[:count]]))
    np.testing.assert_allclose(batched.per_image, expected[:count], rtol=0, atol=1e-5)
    if net == "alex":  # RGB order matters; identical images score 0
        swapped = METRICS.build(spec, "m")
        swapped.update(pairs[0][0][..., ::-1].copy(), pairs[0][1][..., ::-1].copy())
        swapped.update(pairs[0][1], pairs[0][1])
        assert swapped.per_image[0] != pytest.approx(expected[0], abs=1e-5)
        assert swapped.per_image[1] == pytest.approx(0, abs=1e-7)


def _registry_dir(tmp_path: Path, monkeypatch) -> Path:
    """An offline weights directory; the working directory and the cache point at empty folders."""
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    monkeypatch.setenv("GFPGAN_WEIGHTS_DIR", str(weights_dir))
    monkeypatch.setenv("GFPGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GFPGAN_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    return weights_dir


def _write_registry_files(net: str, weights_dir: Path, backbone: bool = True, linear: bool = True) -> None:
    """The golden weights split as the published files are: a torchvision model file (``features.{i}.*`` plus a
    classifier, here tiny, that LPIPS ignores) and the official linear-layer file (``lin{k}.model.1.weight``)."""
    state = seeded_lpips_state(net)
    stem = {"vgg": "vgg16-397923af", "alex": "alexnet-owt-7be5be79"}[net]
    if backbone:
        features = {f"features.{k.split('.')[2]}.{k.split('.')[3]}": v for k, v in state.items() if k[:4] == "net."}
        features["classifier.1.weight"], features["classifier.1.bias"] = torch.zeros(2, 3), torch.zeros(2)
        torch.save(features, weights_dir / f"{stem}.pth")
    if linear:
        lin = {k: v for k, v in state.items() if k.startswith("lin") and not k.startswith("lins.")}
        torch.save(lin, weights_dir / f"lpips_v0.1_{net}.pth")


def test_lpips_backbone_and_linear_layers_from_the_registry(tmp_path, monkeypatch):
    """Without a full state dict: torchvision AlexNet file + official-layout linear layers, both from the registry."""
    _write_registry_files("alex", _registry_dir(tmp_path, monkeypatch))
    metric = METRICS.build({"type": "lpips", "net": "alex"}, "m")
    for a, b in golden_pairs():
        metric.update(a, b)
    np.testing.assert_allclose(metric.per_image, GOLDEN["alex"]["values"], rtol=0, atol=1e-5)
    assert "lpips v0.1 linear layers" in metric.protocol()["weights"]
    assert not metric.model.training and not any(p.requires_grad for p in metric.model.parameters())


def test_lpips_registry_files_missing_or_wrong(tmp_path, monkeypatch):
    weights_dir = _registry_dir(tmp_path, monkeypatch)
    with pytest.raises(WeightsNotFoundError, match=r"alexnet-owt-7be5be79\.pth"):
        build_lpips("alex")
    _write_registry_files("alex", weights_dir, linear=False)
    with pytest.raises(WeightsNotFoundError, match=r"lpips_v0\.1_alex\.pth.*PerceptualSimilarity"):
        build_lpips("alex")
    torch.save(
        {f"lin{k}.model.1.weight": torch.zeros(1, 7, 1, 1) for k in range(5)}, weights_dir / "lpips_v0.1_alex.pth"
    )
    with pytest.raises(ValueError, match="lin0.model.1.weight.*shape"):
        build_lpips("alex")
    torch.save({"features.0.weight": torch.zeros(64, 3, 11, 11)}, weights_dir / "alexnet-owt-7be5be79.pth")
    with pytest.raises(ValueError, match="lacks 'features.0.bias'"):
        build_lpips("alex")


def test_lpips_registry_entries():
    for net in NETS:
        entry = KNOWN_WEIGHTS[f"lpips_v0.1_{net}"]
        assert entry.filename == f"lpips_v0.1_{net}.pth" and len(entry.sha256) == 64
        assert entry.url.endswith(f"PerceptualSimilarity/raw/master/lpips/weights/v0.1/{net}.pth")


def test_lpips_wrong_file_is_a_clear_error(tmp_path):
    torch.save({"x": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="not a full lpips.LPIPS"):
        METRICS.build({"type": "lpips", "net": "alex", "weights": str(tmp_path / "bad.pth")}, "m")
    torch.save(seeded_lpips_state("alex"), tmp_path / "alex.pth")
    with pytest.raises(
        ValueError, match=r"not a full lpips\.LPIPS\(net='vgg'\).*Missing key"
    ):  # the other backbone's file
        build_lpips("vgg", str(tmp_path / "alex.pth"))
    with pytest.raises(ValueError, match="net must be one of"):
        build_lpips("squeeze")


def test_lpips_against_the_package_when_installed(tmp_path):
    """Optional direct cross-check (skips without the reference package): same seeded weights in both directions, the
    package's bundled v0.1 linear layers load into ours and carry the registered checksums."""
    lpips = pytest.importorskip("lpips")
    torch.manual_seed(0)
    x, y = torch.rand(2, 3, 40, 56) * 2 - 1, torch.rand(2, 3, 40, 56) * 2 - 1
    for net in NETS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = lpips.LPIPS(net=net, version="0.1", pretrained=True, pnet_rand=True, verbose=False).eval()
        ours = LPIPSNet(net).eval()
        assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
            (k, v.shape) for k, v in reference.state_dict().items()
        ]
        state = seeded_lpips_state(net)
        state.update({k: v for k, v in reference.state_dict().items() if k.startswith("lin")})  # published layers
        reference.load_state_dict(state)
        ours.load_state_dict(reference.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(ours(x, y), reference(x, y), rtol=0, atol=1e-5)
        bundled = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
        assert sha256sum(bundled) == KNOWN_WEIGHTS[f"lpips_v0.1_{net}"].sha256
        ours.load_linear_layers(torch.load(bundled, map_location="cpu", weights_only=True))
        torch.testing.assert_close(ours.lins[0].model[1].weight, reference.lin0.model[1].weight, rtol=0, atol=0)


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
