"""KID (Binkowski et al. 2018, "Demystifying MMD GANs"): the unbiased squared MMD between the Inception features of
the restored images and of a reference set, with the cubic polynomial kernel, averaged over random subsets.

Protocol: the FID network and input handling (:mod:`gfpgan.metrics.fid`: pt_inception-2015-12-05, RGB [0,1],
bilinear 299x299, pool3 2048-d features, float64). Kernel ``k(x, y) = (x.y / d + 1)^3`` with d = 2048. For each of
``subsets`` rounds, ``subset_size`` restored and ``subset_size`` reference features are drawn without replacement
(``numpy.random.RandomState(seed)``, restored first, the draws of torch-fidelity 0.4), and

    MMD^2_u = (sum_{i != j} k(x_i, x_j) + sum_{i != j} k(y_i, y_j)) / (m (m - 1)) - 2 sum_{i, j} k(x_i, y_j) / m^2

(m = subset size; the cross term keeps its diagonal, as torch-fidelity's "unbiased" estimate does). KID is the mean
over the subsets; the standard deviation (``numpy.std``) is reported next to it. Defaults are torch-fidelity's:
100 subsets of 1000, seed 2020. Unlike torch-fidelity, which refuses sets smaller than the subset size, the subset
size is clipped to the smaller set and the protocol says so (that set is then used whole in every round, in
another order; when both sets are that small, every round gives the same value and the std is 0). KID can be
slightly negative when the sets are alike.
Lower is better.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from gfpgan.metrics.fid import FEATURE_PROTOCOL, InceptionSetMetric
from gfpgan.registry import METRICS

__all__ = [
    "KID",
    "kid_subsets",
    "load_inception_features",
    "mmd2_unbiased",
    "polynomial_kernel",
    "save_inception_features",
]


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(N,M) kernel matrix ``(x_i . y_j / d + 1)^3`` of (N,d) and (M,d) features (computed in place)."""
    k = x @ y.T
    k *= 1.0 / x.shape[1]
    k += 1.0
    return np.power(k, 3, out=k)


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 estimate (see the module docstring) of two equally sized (m,d) feature sets, m >= 2."""
    m = len(x)
    if len(y) != m or m < 2:
        raise ValueError(f"mmd2_unbiased needs two sets of the same size >= 2, got {len(x)} and {len(y)}.")
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx)) + (k_yy.sum() - np.trace(k_yy))
    return float(within / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kid_subsets(
    features: np.ndarray, reference: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 2020
) -> np.ndarray:
    """MMD^2_u of ``subsets`` random subset pairs: (subsets,) float64.

    Args:
        features: (N,d) features of the evaluated images; reference: (M,d) of the reference set.
        subset_size: images drawn from each set per round; must not exceed N or M (the metric clips it first).
        seed: the RandomState seed; the indices of both sets are drawn in the same order as torch-fidelity.
    """
    if subset_size > min(len(features), len(reference)) or subset_size < 2:
        raise ValueError(
            f"KID subset size {subset_size} must be between 2 and the smaller set size "
            f"({len(features)} evaluated, {len(reference)} reference images)."
        )
    rng = np.random.RandomState(seed)
    values = np.empty(subsets)
    for k in range(subsets):
        x = features[rng.choice(len(features), subset_size, replace=False)]
        y = reference[rng.choice(len(reference), subset_size, replace=False)]
        values[k] = mmd2_unbiased(x, y)
    return values


def save_inception_features(path: str | os.PathLike, features: np.ndarray, source: str) -> None:
    """Write an ``.npz`` reference for KID: ``features`` (N,2048) float32 (lossless: the network is float32)."""
    np.savez(path, features=features.astype(np.float32), source=source, protocol=FEATURE_PROTOCOL)


def load_inception_features(path: str | os.PathLike) -> np.ndarray:
    """(N,D) float64 features from an ``.npz`` with a ``features`` array (:func:`save_inception_features`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"KID features file {path} does not exist.")
    if path.suffix != ".npz":
        raise ValueError(f"{path}: a KID features file is an .npz with a 'features' array (N, 2048).")
    with np.load(path) as data:
        if "features" not in data.files or data["features"].ndim != 2:
            raise ValueError(f"{path}: expected a 2-D array 'features' (N, 2048), found {data.files}.")
        return data["features"].astype(np.float64)


@METRICS.register("kid")
class KID(InceptionSetMetric):
    """Set-level KID of the restored images against a reference set (lower is better); protocol in the module
    docstring.

    Reference: ``features`` (an ``.npz`` of Inception features), else ``ref_dir`` (a folder; its features are
    computed once and cached by folder content, weights and protocol unless ``cache`` is False), else the
    ground-truth images passed to ``update``. Images (H,W,3) uint8 RGB. ``per_image`` is empty; ``std`` holds the
    standard deviation over the subsets after ``compute``.
    """

    name = "kid"
    reference_kind = "features"

    def __init__(
        self,
        features: str | None = None,
        ref_dir: str | None = None,
        subsets: int = 100,
        subset_size: int = 1000,
        seed: int = 2020,
        weights: str | None = None,
        batch_size: int = 16,
        cache: bool = True,
        device: str | torch.device = "cpu",
        better: Literal["higher", "lower"] | None = None,
    ) -> None:
        if features is not None and ref_dir is not None:
            raise ValueError("KID: give either features (a features file) or ref_dir (a folder), not both.")
        if subsets < 1 or subset_size < 2:
            raise ValueError(f"KID: subsets must be >= 1 and subset_size >= 2, got {subsets} and {subset_size}.")
        self.features, self.subsets, self.subset_size, self.seed = features, subsets, subset_size, seed
        self._reference: np.ndarray | None = load_inception_features(features) if features else None
        self.std: float | None = None
        self.subset_size_used: int | None = None
        super().__init__(features, ref_dir, weights, batch_size, cache, device, better)

    def reference_features(self) -> np.ndarray:
        """(M,2048) float64 features of the reference set."""
        if self._reference is None:
            if self.ref_dir is None:
                return self.gt_features()  # the GT set changes with every update: not kept
            self._reference = self.folder_arrays()["features"]
        return self._reference

    def compute(self) -> float:
        features, reference = self.restored_features(), self.reference_features()
        size = min(self.subset_size, len(features), len(reference))
        if size < 2:
            raise RuntimeError(f"KID needs at least 2 images on each side, got {len(features)} and {len(reference)}.")
        values = kid_subsets(features, reference, self.subsets, size, self.seed)
        self.subset_size_used, self.std = size, float(np.std(values))
        return float(np.mean(values))

    def protocol(self) -> dict:
        if self.features:
            reference, count = f"features file {self.features}", len(self._reference)
        elif self.ref_dir:
            reference, count = self._folder_description()
        else:
            reference, count = "the ground-truth images", self.num_images
        protocol = self._protocol(reference, count)
        protocol["kernel"] = "cubic polynomial (x.y/2048 + 1)^3, unbiased MMD^2 (torch-fidelity's estimate)"
        size = self.subset_size_used
        if size is not None and size < self.subset_size:
            subset = f"{size} (subset_size {self.subset_size} clipped to the smaller set)"
        else:
            subset = str(self.subset_size)
        protocol["subsets"] = f"{self.subsets} x {subset}, RandomState seed {self.seed}"
        protocol["std"] = self.std
        return protocol
