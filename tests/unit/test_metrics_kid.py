"""KID: equal to torch-fidelity's on seeded feature arrays (golden values in tests/data/metrics_kid_golden.json,
written by benchmarks/reference_check/make_kid_golden.py; torch-fidelity is not needed here), a hand-computed tiny
case, subset clipping, the metric object with each kind of reference, and its protocol."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from test_metrics_seeded import seeded_images, seeded_state_dict

from gfpgan.metrics import fid, kid
from gfpgan.metrics.report import protocol_line
from gfpgan.registry import METRICS

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "data" / "metrics_kid_golden.json").read_text())


def features(recipe: dict) -> np.ndarray:
    """The golden file's recipe: abs(normal(loc, scale, (n, d))) from default_rng(seed)."""
    rng = np.random.default_rng(recipe["seed"])
    return np.abs(rng.normal(recipe["loc"], recipe["scale"], (recipe["n"], recipe["d"])))


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: c["name"])
def test_kid_equals_torch_fidelity(case):
    values = kid.kid_subsets(
        features(case["features"]), features(case["reference"]), case["subsets"], case["subset_size"], case["seed"]
    )
    assert float(np.mean(values)) == pytest.approx(case["mean"], abs=1e-6, rel=1e-9)
    assert float(np.std(values)) == pytest.approx(case["std"], abs=1e-6, rel=1e-9)
    # torch-fidelity's usual float32 features move its value by under 1e-6 on these sets (float32 BLAS sums vary)
    assert float(np.mean(values)) == pytest.approx(case["float32_value"], abs=5e-6)


def test_mmd_equals_torch_fidelity_kernel_mmd():
    ref = GOLDEN["kernel_mmd"]
    case = next(c for c in GOLDEN["cases"] if c["name"] == ref["case"])
    x, y = features(case["features"])[: ref["rows"]], features(case["reference"])[: ref["rows"]]
    assert kid.mmd2_unbiased(x, y) == pytest.approx(ref["value"], abs=1e-9, rel=1e-10)


def test_mmd_hand_computed():
    # d = 1, k(x, y) = (x y + 1)^3. X = {0, 1}, Y = {1, 2}:
    # off-diagonal k_xx: k(0,1) = 1 twice -> 2; off-diagonal k_yy: k(1,2) = 27 twice -> 54;
    # k_xy: k(0,1) + k(0,2) + k(1,1) + k(1,2) = 1 + 1 + 8 + 27 = 37. MMD^2 = (2 + 54) / (2*1) - 2*37 / 4 = 9.5.
    x, y = np.array([[0.0], [1.0]]), np.array([[1.0], [2.0]])
    assert kid.mmd2_unbiased(x, y) == pytest.approx(9.5, abs=1e-12)
    # d = 2 scales the dot product: k = (x.y/2 + 1)^3. X = {(0,0), (2,0)}, Y = {(0,2), (2,2)}:
    # k_xx off-diagonal: k((0,0),(2,0)) = 1 twice -> 2; k_yy: k((0,2),(2,2)) = (4/2+1)^3 = 27 twice -> 54;
    # k_xy: 1 + 1 + k((2,0),(0,2)) = 1 + k((2,0),(2,2)) = (4/2+1)^3 = 27 -> 30. MMD^2 = 56/2 - 60/4 = 13.
    x2, y2 = np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([[0.0, 2.0], [2.0, 2.0]])
    assert kid.mmd2_unbiased(x2, y2) == pytest.approx(13.0, abs=1e-12)
    # a set against itself: within (2 + 2) / 2 = 2, cross 2 * (1 + 1 + 1 + 8) / 4 = 5.5; the unbiased estimate is < 0
    assert kid.mmd2_unbiased(x, x) == pytest.approx(-3.5, abs=1e-12)
    with pytest.raises(ValueError, match="same size"):
        kid.mmd2_unbiased(x, y2[:1])


def test_subsets_are_seeded_and_validated():
    a, b = (
        features({"seed": 0, "n": 20, "d": 8, "loc": 0, "scale": 1}),
        features({"seed": 1, "n": 25, "d": 8, "loc": 0.2, "scale": 1}),
    )
    np.testing.assert_array_equal(kid.kid_subsets(a, b, 4, 10, seed=3), kid.kid_subsets(a, b, 4, 10, seed=3))
    assert not np.array_equal(kid.kid_subsets(a, b, 4, 10, seed=3), kid.kid_subsets(a, b, 4, 10, seed=4))
    with pytest.raises(ValueError, match="between 2 and the smaller set size"):
        kid.kid_subsets(a, b, 4, 21)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> Path:
    shapes = {k: tuple(v.shape) for k, v in fid.FIDInceptionV3().state_dict().items()}
    path = tmp_path_factory.mktemp("kid") / "inception_seeded.pth"
    torch.save(seeded_state_dict(shapes, seed=0), path)
    return path


class _PooledPixels(torch.nn.Module):
    """A cheap stand-in for the Inception net: 8x8 average-pooled pixels (192-d), to test the metric's plumbing."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(x, 8).flatten(1)


def test_kid_metric_object(weights_file, tmp_path, monkeypatch):
    monkeypatch.setenv("GFPGAN_CACHE_DIR", str(tmp_path / "cache"))
    restored, gt = seeded_images(20, 6, 48, 40), seeded_images(21, 5, 40, 40)
    stand_in = _PooledPixels()
    expected_values = kid.kid_subsets(
        fid.inception_features(restored, stand_in), fid.inception_features(gt, stand_in), 7, 5, seed=11
    )
    options = {"type": "kid", "weights": str(weights_file), "subsets": 7, "subset_size": 1000, "seed": 11}

    # against the ground truth (5 pairs): the subset size is clipped to 5, and the protocol says so
    metric = METRICS.build(options, where="val.metrics.kid")
    metric.model = stand_in
    assert metric.needs_gt and metric.better == "lower" and metric.per_image == []
    for r, g in zip(restored, gt):
        metric.update(r, g)
    both_whole = kid.kid_subsets(
        fid.inception_features(restored[:5], stand_in), fid.inception_features(gt, stand_in), 7, 5, seed=11
    )
    assert metric.compute() == pytest.approx(float(np.mean(both_whole)), rel=1e-12)
    protocol = metric.protocol()
    assert protocol["std"] == pytest.approx(0, abs=1e-12)  # both sets whole in every round: one value
    assert "5 (subset_size 1000 clipped to the smaller set)" in protocol["subsets"]
    assert "RandomState seed 11" in protocol["subsets"] and protocol["reference"] == "the ground-truth images"
    assert "kid: " in protocol_line({"kid": protocol})

    # against a features file of the same reference set: the same value, no gt needed
    kid.save_inception_features(tmp_path / "ref.npz", fid.inception_features(gt, stand_in), source="gt")
    with_file = METRICS.build({**options, "features": str(tmp_path / "ref.npz")}, where="m")
    with_file.model = stand_in
    assert not with_file.needs_gt
    for r in restored:
        with_file.update(r)
    assert with_file.compute() == pytest.approx(float(np.mean(expected_values)), rel=1e-6)  # float32 file
    assert with_file.protocol()["reference_num_images"] == 5
    assert np.std(expected_values) > 0
    assert with_file.protocol()["std"] == pytest.approx(float(np.std(expected_values)), rel=1e-5)

    # against a folder of the same images: features computed once, cached
    ref_dir = tmp_path / "gt"
    ref_dir.mkdir()
    for i, img in enumerate(gt):
        cv2.imwrite(str(ref_dir / f"{i:02d}.png"), img[..., ::-1])
    with_dir = METRICS.build({**options, "ref_dir": str(ref_dir)}, where="m")
    with_dir.model = stand_in
    for r in restored:
        with_dir.update(r)
    assert with_dir.compute() == pytest.approx(float(np.mean(expected_values)), rel=1e-12)
    assert "5 images" in with_dir.protocol()["reference"] and not with_dir.folder_reference.from_cache


def test_kid_options_are_checked(tmp_path):
    with pytest.raises(ValueError, match="either features"):
        kid.KID(features="a.npz", ref_dir="b")
    with pytest.raises(ValueError, match="subset_size >= 2"):
        kid.KID(subset_size=1)
    np.savez(tmp_path / "bad.npz", mu=np.zeros(3))
    with pytest.raises(ValueError, match="'features'"):
        kid.load_inception_features(tmp_path / "bad.npz")
