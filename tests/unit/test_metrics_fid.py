"""FID: network layout = pt_inception keys, features and distance equal pytorch-fid's with the same seeded weights
(golden numbers in tests/data/metrics_fid_golden.json), statistics files, metric object."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_metrics_seeded import seeded_images, seeded_state_dict

from gfpgan.metrics import fid
from gfpgan.registry import METRICS

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "data" / "metrics_fid_golden.json").read_text())


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> Path:
    """Seeded Inception weights saved like pt_inception (with the unused fc layer, which loading drops)."""
    shapes = {k: tuple(v.shape) for k, v in fid.FIDInceptionV3().state_dict().items()}
    state = seeded_state_dict(shapes, seed=0)
    state["fc.weight"], state["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)
    path = tmp_path_factory.mktemp("fid") / "inception_seeded.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def features(weights_file) -> tuple[np.ndarray, np.ndarray]:
    model = fid.load_fid_inception(weights_file)
    a = fid.inception_features(seeded_images(10, 3, 64, 56), model, batch_size=2)
    b = fid.inception_features(seeded_images(11, 3, 48, 48), model, batch_size=3)
    return a, b


def test_state_dict_layout_matches_pytorch_fid():
    ours = sorted(f"{k}:{tuple(v.shape)}" for k, v in fid.FIDInceptionV3().state_dict().items())
    assert ours == GOLDEN["keys"]


def test_features_and_fid_match_pytorch_fid(features):
    a, b = features
    np.testing.assert_allclose(a[:, :8], GOLDEN["features_a_first8"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.sum(axis=1), GOLDEN["features_a_sum"], rtol=1e-5)
    np.testing.assert_allclose(b.sum(axis=1), GOLDEN["features_b_sum"], rtol=1e-5)
    # The Frechet distance on the first 64 feature dimensions (a 2048x2048 sqrtm costs ~90 CPU seconds; the full
    # value GOLDEN["fid_a_vs_b"] was checked once, equal to pytorch-fid's to the last digit).
    value = fid.frechet_distance(*fid.statistics(a[:, :64]), *fid.statistics(b[:, :64]))
    assert value == pytest.approx(GOLDEN["fid_a_vs_b_first64"], abs=1e-3)


def test_frechet_distance_matches_pytorch_fid_and_basics():
    rng = np.random.default_rng(7)
    x1, x2 = rng.normal(size=(50, 16)), rng.normal(size=(60, 16)) * 1.3 + 0.2
    assert fid.frechet_distance(*fid.statistics(x1), *fid.statistics(x2)) == pytest.approx(
        GOLDEN["frechet_small"], abs=1e-9
    )
    mu, sigma = fid.statistics(x1)
    assert fid.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0, abs=1e-6)
    # singular product: the eps retry gives a finite value
    singular = np.zeros((16, 16))
    assert np.isfinite(fid.frechet_distance(mu, singular, mu + 1, singular))


def test_statistics_files(tmp_path):
    rng = np.random.default_rng(0)
    mu, sigma = rng.normal(size=4), np.eye(4) * 2
    fid.save_fid_stats(tmp_path / "s.npz", mu, sigma, num_images=10, source="test")
    np.testing.assert_array_equal(fid.load_fid_stats(tmp_path / "s.npz")[0], mu)
    # BasicSR layout: a torch-pickled dict of numpy arrays (inception_FFHQ_512.pth)
    torch.save({"name": "FFHQ", "size": 512, "mean": mu, "cov": sigma}, tmp_path / "basicsr.pth")
    loaded_mu, loaded_sigma = fid.load_fid_stats(tmp_path / "basicsr.pth")
    np.testing.assert_array_equal(loaded_mu, mu)
    np.testing.assert_array_equal(loaded_sigma, sigma)
    with pytest.raises(ValueError, match="'mean' and 'cov'"):
        torch.save({"mu": mu}, tmp_path / "bad.pth")
        fid.load_fid_stats(tmp_path / "bad.pth")


class _PooledPixels(torch.nn.Module):
    """A cheap stand-in for the Inception net: 8x8 average-pooled pixels (192-d), to test the metric's plumbing."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(x, 8).flatten(1)


def test_fid_metric_object(weights_file, tmp_path):
    restored, gt = seeded_images(10, 5, 64, 56), seeded_images(11, 5, 48, 48)
    stand_in = _PooledPixels()
    expected = fid.frechet_distance(
        *fid.statistics(fid.inception_features(restored, stand_in)),
        *fid.statistics(fid.inception_features(gt, stand_in)),
    )
    metric = METRICS.build({"type": "fid", "weights": str(weights_file), "batch_size": 2}, where="val.metrics.fid")
    metric.model = stand_in
    assert metric.needs_gt and metric.better == "lower"
    for r, g in zip(restored, gt):
        metric.update(r, g)
    assert metric.compute() == pytest.approx(expected, rel=1e-9)
    assert metric.per_image == [] and metric.protocol()["reference"] == "the ground-truth images"
    assert metric.protocol()["num_images"] == 5
    # against a statistics file of the same reference set: the same number, and no gt needed
    fid.save_fid_stats(tmp_path / "ref.npz", *fid.statistics(fid.inception_features(gt, stand_in)), 5, "gt")
    with_stats = METRICS.build({"type": "fid", "weights": str(weights_file), "stats": str(tmp_path / "ref.npz")}, "m")
    with_stats.model = stand_in
    assert not with_stats.needs_gt
    for r in restored:
        with_stats.update(r, None)
    assert with_stats.compute() == pytest.approx(expected, rel=1e-9)
    # batched tensors in [0,1] are quantised like saved images: the same value
    batched = METRICS.build({"type": "fid", "weights": str(weights_file)}, "m")
    batched.model = stand_in
    to_tensor = lambda imgs: torch.stack([torch.from_numpy(i).permute(2, 0, 1) for i in imgs]).double() / 255  # noqa: E731
    batched.update_batch(to_tensor(restored[:3]), to_tensor(gt[:3]))
    batched.update_batch(to_tensor(restored[3:]), to_tensor(gt[3:]))
    assert batched.compute() == pytest.approx(expected, rel=1e-9)


def test_bad_weights_file_is_a_clear_error(tmp_path):
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="not a pytorch-fid Inception state dict"):
        fid.load_fid_inception(tmp_path / "bad.pth")
