"""FID/KID against a folder: the folder's Inception statistics (features for KID) are computed once and cached by
folder content (names, sizes, mtimes), weights and protocol; a changed file, other weights or ``cache: false`` miss
the cache; an unreadable cache file is recomputed; the protocol names the folder, its hash and N. Seeded random
Inception weights, tiny generated folders."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from test_metrics_seeded import seeded_images, seeded_state_dict

from gfpgan.metrics import fid
from gfpgan.registry import METRICS


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> Path:
    shapes = {k: tuple(v.shape) for k, v in fid.FIDInceptionV3().state_dict().items()}
    path = tmp_path_factory.mktemp("fid_cache") / "inception_seeded.pth"
    torch.save(seeded_state_dict(shapes, seed=0), path)
    return path


@pytest.fixture
def ref_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("GFPGAN_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "gt"
    folder.mkdir()
    for i, img in enumerate(seeded_images(30, 3, 32, 32)):
        cv2.imwrite(str(folder / f"{i:02d}.png"), img[..., ::-1])
    return folder


class Counting(torch.nn.Module):
    """The Inception net, counting the images it extracts features of."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net, self.images = net, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.images += len(x)
        return self.net(x)


def reference_of(options: dict) -> tuple[tuple[np.ndarray, np.ndarray], int, fid.FID]:
    """(mu, sigma) of the ref_dir, the number of images the network saw, the metric."""
    metric = METRICS.build({"type": "fid", **options}, where="val.metrics.fid")
    metric.model = Counting(metric.model)
    stats = metric.reference_statistics()
    return stats, metric.model.images, metric


def test_folder_statistics_are_cached_by_content(weights_file, ref_dir, tmp_path):
    options = {"weights": str(weights_file), "ref_dir": str(ref_dir), "batch_size": 2}
    (mu, sigma), seen, first = reference_of(options)
    assert seen == 3 and not first.folder_reference.from_cache
    cache_files = list((tmp_path / "cache" / "metrics").glob("inception_stats_*.pth"))
    assert cache_files == [first.folder_reference.cache_file]
    expected = fid.statistics(fid.inception_features(fid.iter_folder(ref_dir), first.model.net))
    np.testing.assert_allclose(mu, expected[0], rtol=1e-12)
    protocol = first.protocol()
    sha, count = fid.folder_digest(ref_dir)
    assert protocol["reference"] == f"folder {ref_dir} (content sha256 {sha[:16]}, 3 images)" and count == 3
    assert protocol["reference_num_images"] == 3

    # second metric object: read from the cache, no image through the network, the same arrays
    (mu2, sigma2), seen, second = reference_of(options)
    assert seen == 0 and second.folder_reference.from_cache
    np.testing.assert_array_equal(mu2, mu)
    np.testing.assert_array_equal(sigma2, sigma)
    assert second.protocol()["reference"] == protocol["reference"]

    # one file rewritten: another digest, a miss, other statistics
    img = cv2.imread(str(ref_dir / "01.png"))
    cv2.imwrite(str(ref_dir / "01.png"), 255 - img)
    stat = os.stat(ref_dir / "01.png")
    os.utime(ref_dir / "01.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # coarse-mtime file systems
    (mu3, _), seen, third = reference_of(options)
    assert seen == 3 and not third.folder_reference.from_cache
    assert third.folder_reference.sha256 != sha and not np.allclose(mu3, mu)
    # an added image: a miss too
    cv2.imwrite(str(ref_dir / "03.png"), img)
    _, seen, fourth = reference_of(options)
    assert seen == 4 and fourth.protocol()["reference_num_images"] == 4


def test_cache_key_and_opt_out(weights_file, ref_dir, tmp_path):
    sha, _ = fid.folder_digest(ref_dir)
    key = fid.reference_cache_file("stats", sha, "a" * 64)
    assert key != fid.reference_cache_file("stats", sha, "b" * 64)  # other Inception weights
    assert key != fid.reference_cache_file("features", sha, "a" * 64)
    assert key.parent == tmp_path / "cache" / "metrics"
    _, seen, metric = reference_of({"weights": str(weights_file), "ref_dir": str(ref_dir), "cache": False})
    assert seen == 3 and metric.folder_reference.cache_file is None
    assert not (tmp_path / "cache" / "metrics").exists()


def test_unreadable_cache_is_recomputed(weights_file, ref_dir, caplog):
    options = {"weights": str(weights_file), "ref_dir": str(ref_dir)}
    (mu, _), _, first = reference_of(options)
    stats_file = first.folder_reference.cache_file
    features_file = next(stats_file.parent.glob("inception_features_*.pth"))  # written by the same extraction
    stats_file.write_bytes(b"not a torch file")
    (mu2, _), seen, _ = reference_of(options)  # rebuilt from the cached features: no image through the network
    assert seen == 0 and "unreadable reference cache" in caplog.text
    np.testing.assert_allclose(mu2, mu, rtol=1e-12, atol=1e-12)
    stats_file.write_bytes(b"not a torch file")
    features_file.write_bytes(b"not a torch file either")
    (mu3, _), seen, _ = reference_of(options)  # both unreadable: recomputed from the images
    assert seen == 3
    np.testing.assert_array_equal(mu3, mu)
    _, seen, _ = reference_of(options)  # rewritten: a hit again
    assert seen == 0


def test_kid_caches_folder_features(weights_file, ref_dir):
    options = {"type": "kid", "weights": str(weights_file), "ref_dir": str(ref_dir), "subsets": 3}
    restored = seeded_images(31, 3, 32, 32)
    values = []
    for expect_seen in (3 + 3, 3):  # restored + reference the first time, restored only the second
        metric = METRICS.build(options, where="val.metrics.kid")
        metric.model = Counting(metric.model)
        for img in restored:
            metric.update(img)
        values.append(metric.compute())
        assert metric.model.images == expect_seen
    assert values[0] == pytest.approx(values[1], rel=1e-12)  # float32 cache of float32 network outputs: lossless
    assert "3 images" in metric.protocol()["reference"]


def test_unwritable_cache_folder_only_warns(weights_file, ref_dir, tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    monkeypatch.setenv("GFPGAN_CACHE_DIR", str(blocker))  # <file>/metrics cannot be created
    (mu, _), seen, _ = reference_of({"weights": str(weights_file), "ref_dir": str(ref_dir)})
    assert seen == 3 and np.isfinite(mu).all() and "could not cache" in caplog.text


def test_fid_and_kid_on_one_folder_read_it_once(weights_file, ref_dir):
    """One extraction of the reference folder serves both: KID's features give FID's statistics and vice versa."""
    options = {"weights": str(weights_file), "ref_dir": str(ref_dir), "batch_size": 4}
    kid = METRICS.build({"type": "kid", **options, "subsets": 2, "subset_size": 8}, where="val.metrics.kid")
    kid.model = Counting(kid.model)
    features = kid.reference_features()
    assert kid.model.images == 3
    (mu, sigma), seen, metric = reference_of(options)
    assert seen == 0 and metric.folder_reference.from_cache  # derived from KID's cached features
    expected_mu, expected_sigma = fid.statistics(features)
    np.testing.assert_allclose(mu, expected_mu, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sigma, expected_sigma, rtol=1e-12, atol=1e-12)


def test_fid_first_also_caches_the_features_kid_needs(weights_file, ref_dir):
    options = {"weights": str(weights_file), "ref_dir": str(ref_dir), "batch_size": 4}
    _, seen, _ = reference_of(options)
    assert seen == 3
    kid = METRICS.build({"type": "kid", **options, "subsets": 2, "subset_size": 8}, where="val.metrics.kid")
    kid.model = Counting(kid.model)
    kid.reference_features()
    assert kid.model.images == 0
