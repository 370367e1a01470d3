"""LMD: our AWing FAN and landmark decoding against goldens recorded from facexlib, and the metric's protocol.

tests/data/golden_awing.npz comes from benchmarks/reference_check/make_awing_golden.py: facexlib's
``FAN(num_modules=4, num_landmarks=98)`` with deterministic weights (``fill_state`` of lmd_inputs.py, shared with the
generator script, so no weights are stored), its ``get_landmarks`` on the ``golden_images()`` (given as BGR, as the
published LMD scripts read them), and ``calculate_points`` on constructed heatmaps. Nothing is downloaded; facexlib
is only imported by the optional cross-check at the end, which skips when it is not installed.

The 4-stack network costs about a second per image on a CPU, so the metric's network is wrapped to run each distinct
input once: the golden forward pass and the metric's passes over the same images share the results.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from lmd_inputs import DECODE_CASES, IMAGE_SIZES, SEED, decode_heatmaps, fill_state, golden_images

from gfpgan.archs.awing import FAN, decode_landmarks
from gfpgan.metrics.landmark import LandmarkDistance, fan_input, landmark_distance, load_awing, predict_landmarks
from gfpgan.registry import METRICS
from gfpgan.utils.weights import KNOWN_WEIGHTS, WeightsNotFoundError

GOLDEN = dict(np.load(Path(__file__).resolve().parents[1] / "data" / "golden_awing.npz", allow_pickle=False))
HEATMAP_RTOL = 1e-5  # relative to the largest magnitude of the heatmap set
PX_TOL = 1e-3  # landmarks, pixels


class OncePerInput(torch.nn.Module):
    """Runs the wrapped FAN once per distinct input image and replays the stored outputs afterwards."""

    def __init__(self, model: FAN) -> None:
        super().__init__()
        self.model = model
        self.cache: dict[bytes, list[torch.Tensor]] = {}

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        keys = [sample.numpy().tobytes() for sample in x]
        todo = [i for i, key in enumerate(keys) if key not in self.cache]
        if todo:
            outputs = self.model(x[todo])
            for j, i in enumerate(todo):
                self.cache[keys[i]] = [stack[j] for stack in outputs]
        return [torch.stack([self.cache[key][s] for key in keys]) for s in range(self.model.num_modules)]


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> Path:
    """The seeded weights in the published file's layout: ``{"state_dict": ...}``."""
    with torch.device("meta"):
        shapes = FAN().state_dict()
    path = tmp_path_factory.mktemp("awing") / "alignment_WFLW_4HG.pth"
    torch.save({"state_dict": fill_state(shapes)}, path)
    return path


@pytest.fixture(scope="module")
def metric(weights_file) -> LandmarkDistance:
    metric = METRICS.build({"type": "lmd", "weights": str(weights_file), "batch_size": 4}, where="test")
    metric.model = OncePerInput(metric.model)
    return metric


@pytest.fixture(scope="module")
def ours(metric) -> tuple[list[torch.Tensor], np.ndarray]:
    """Every stack's heatmaps and the decoded landmarks of the golden images."""
    images = golden_images()
    with torch.no_grad():
        stacks = metric.model(fan_input(images))
    points = decode_landmarks(stacks[-1][:, :-1], [img.shape[:2] for img in images]).numpy()
    return stacks, points


def test_golden_inputs_are_the_recorded_ones():
    assert int(GOLDEN["seed"]) == SEED
    assert [tuple(s) for s in GOLDEN["image_sizes"]] == list(IMAGE_SIZES)
    assert [img.shape[:2] for img in golden_images()] == list(IMAGE_SIZES)


def test_state_dict_layout_equals_facexlib():
    with torch.device("meta"):
        model = FAN(num_modules=4, num_landmarks=98)
    listing = [f"{k}:{tuple(v.shape)}" for k, v in model.state_dict().items()]
    assert listing == GOLDEN["keys"].tolist()  # the same names, shapes and order


def test_loaded_network_is_frozen_and_in_eval_mode(metric):
    model = metric.model.model
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert all(p.device.type == "cpu" and p.dtype == torch.float32 for p in model.parameters())


def test_heatmaps_match_facexlib(ours):
    stacks, _ = ours
    last = stacks[-1][:, GOLDEN["heatmap_channels"]].numpy()
    scale = np.abs(GOLDEN["heatmaps"]).max()
    assert np.abs(last - GOLDEN["heatmaps"]).max() <= HEATMAP_RTOL * scale
    per_stack = torch.stack(stacks, dim=1).double()  # (N,4,99,64,64)
    for name, value in (("stack_mean", per_stack.mean(dim=(3, 4))), ("stack_absmax", per_stack.abs().amax(dim=(3, 4)))):
        scale = GOLDEN["stack_absmax"].max(axis=(0, 2), keepdims=True)  # the largest magnitude of each stack
        assert (np.abs(value.numpy() - GOLDEN[name]) / scale).max() <= HEATMAP_RTOL, name


def test_landmarks_match_facexlib(ours):
    stacks, points = ours
    assert np.array_equal(stacks[-1][:, :-1].flatten(2).argmax(dim=2).numpy(), GOLDEN["argmax"])
    assert points.shape == (len(IMAGE_SIZES), 98, 2) and points.dtype == np.float64
    assert np.abs(points - GOLDEN["landmarks"]).max() <= PX_TOL


@pytest.mark.parametrize(("seed", "height", "width", "kind"), DECODE_CASES)
def test_decoding_matches_calculate_points(seed, height, width, kind):
    points = decode_landmarks(torch.from_numpy(decode_heatmaps(seed, kind)), [(height, width)])[0].numpy()
    np.testing.assert_allclose(points, GOLDEN[f"decode_{seed}"], rtol=0, atol=1e-9)


def test_decoding_by_hand():
    """One peak at heatmap pixel (x=10, y=20) with a larger right and a larger upper neighbour, on a 128x256 image
    (width 128: x scale 2; height 256: y scale 4)."""
    maps = torch.zeros(1, 1, 64, 64)
    maps[0, 0, 20, 10], maps[0, 0, 20, 11], maps[0, 0, 19, 10] = 5.0, 1.0, 2.0
    (x, y) = decode_landmarks(maps, [(256, 128)])[0, 0].tolist()
    assert (x, y) == ((10 + 0.25 + 0.5) * 2, (20 - 0.25 + 0.5) * 4)


def test_metric_is_the_mean_landmark_distance(metric):
    a, b, c = golden_images()
    metric.reset()
    metric.update(b, a)  # restored b, ground truth a: the scripts' per-image value between images 1 and 0
    metric.update(c, c)
    expected = landmark_distance(GOLDEN["landmarks"][0], GOLDEN["landmarks"][1])
    assert expected == pytest.approx(float(GOLDEN["lmd_01"]), abs=1e-12) and expected > 1.0
    values = metric.per_image
    assert values[0] == pytest.approx(expected, abs=PX_TOL) and values[1] == 0.0
    assert metric.compute() == pytest.approx(np.mean(values), abs=1e-12)
    # by hand: per landmark Euclidean, then the mean over the 98 landmarks
    diff = GOLDEN["landmarks"][1] - GOLDEN["landmarks"][0]
    assert expected == pytest.approx(np.mean([np.hypot(dx, dy) for dx, dy in diff]), abs=1e-12)


def test_update_batch_scores_like_saved_images(metric):
    a, b, _ = golden_images()
    metric.reset()
    metric.update(b, a)
    single = metric.per_image
    metric.reset()
    as_tensor = [torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255 for img in (b, a)]
    metric.update_batch(*as_tensor)
    assert metric.per_image == single


def test_predict_landmarks_returns_heatmaps(metric, ours):
    points, heatmaps = predict_landmarks(metric.model, golden_images()[2:])
    assert heatmaps.shape == (1, 99, 64, 64)
    assert np.array_equal(points[0], ours[1][2])


def test_protocol_and_registry(metric):
    protocol = metric.protocol()
    assert protocol["metric"] == "lmd" and "VQFR" in protocol["source"] and "256x256" in protocol["input"]
    assert metric.better == "lower" and metric.needs_gt
    assert METRICS.get("lmd") is LandmarkDistance
    entry = KNOWN_WEIGHTS["alignment_WFLW_4HG"]
    assert entry.url == "https://github.com/xinntao/facexlib/releases/download/v0.1.0/alignment_WFLW_4HG.pth"
    with pytest.raises(ValueError, match="differs from ground truth"):
        metric.update(golden_images()[0], golden_images()[2])


def test_missing_weights_name_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("GFPGAN_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("GFPGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GFPGAN_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsNotFoundError) as info:
        LandmarkDistance()
    message = str(info.value)
    assert "\n" not in message and "alignment_WFLW_4HG.pth" in message
    assert KNOWN_WEIGHTS["alignment_WFLW_4HG"].url in message and str(tmp_path / "weights") in message


def test_wrong_file_is_a_clear_error(tmp_path):
    torch.save({"state_dict": {"conv1.conv.weight": torch.zeros(64, 6, 7, 7)}}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=r"bad\.pth: not an AWing FAN .*Missing key"):
        load_awing(tmp_path / "bad.pth")


def test_facexlib_cross_check(weights_file, ours, monkeypatch):
    """Optional: facexlib's own get_landmarks on the same weights and one image (skipped without facexlib)."""
    awing_arch = pytest.importorskip("facexlib.alignment.awing_arch")
    monkeypatch.setattr(np, "float", float, raising=False)  # facexlib uses np.float (removed in numpy 1.24)
    reference = awing_arch.FAN(num_modules=4, num_landmarks=98, device="cpu")
    reference.load_state_dict(torch.load(weights_file, weights_only=True)["state_dict"], strict=True)
    reference.eval()
    image = golden_images()[2]
    with torch.no_grad():
        points = reference.get_landmarks(np.ascontiguousarray(image[..., ::-1]))
    assert np.abs(points - ours[1][2]).max() <= PX_TOL
    for seed, height, width, kind in DECODE_CASES:
        expected = awing_arch.calculate_points(decode_heatmaps(seed, kind)).reshape(-1, 2) * (width / 64, height / 64)
        mine = decode_landmarks(torch.from_numpy(decode_heatmaps(seed, kind)), [(height, width)])[0].numpy()
        np.testing.assert_allclose(mine, expected, rtol=0, atol=1e-9)
