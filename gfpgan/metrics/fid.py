"""FID: the FID Inception-v3 (TensorFlow's 2015-12-05 graph as ported by pytorch-fid), pool features, Frechet
distance.

Protocol: RGB images in [0,1], bilinear resize to 299x299 (align_corners False, no antialiasing), scaled to [-1,1],
2048-d final average-pool features; mean and covariance (``np.cov``, N-1) of the features; Frechet distance with
``scipy.linalg.sqrtm`` and an eps-diagonal retry when the product is singular. The network's state dict has
exactly the keys and shapes of ``pt_inception-2015-12-05-6726825d.pth`` minus the unused 1008-way ``fc``.
Reference statistics: a ``.npz`` with ``mu``/``sigma`` (ours, pytorch-fid) or BasicSR's ``inception_FFHQ_512.pth``
(``{"mean", "cov"}``, 50,000 FFHQ images). GFPGAN-era papers compare against the FFHQ statistics, not the GT set.
Or a folder of images (``ref_dir``): its statistics are computed once and cached under
``$GFPGAN_CACHE_DIR/metrics/`` (default ``~/.cache/gfpgan``), keyed by the folder's image names, sizes and
modification times, the sha256 of the Inception weights and this input protocol; any change to a file is a miss.
The protocol names the reference: the file, or the folder with its content hash and number of images.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from torch import nn

from gfpgan.metrics.base import Metric, image_to_tensor, quantize_like_png
from gfpgan.registry import METRICS
from gfpgan.utils.checkpoint import atomic_save
from gfpgan.utils.state_dict import CheckpointError, safe_load
from gfpgan.utils.weights import cache_dir, get_weights_path, sha256sum

__all__ = [
    "FID",
    "FIDInceptionV3",
    "FolderReference",
    "InceptionSetMetric",
    "folder_digest",
    "folder_reference",
    "frechet_distance",
    "inception_features",
    "load_fid_inception",
    "load_fid_stats",
    "reference_cache_file",
    "save_fid_stats",
    "statistics",
    "stats_file_num_images",
    "weights_digest",
]

INCEPTION_WEIGHTS = "pt_inception-2015-12-05-6726825d"
logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------------------------------
# Network


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **conv: int | tuple[int, int]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_tf(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-1 average pool that, like TensorFlow, does not count the zero padding."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), branch5x5, branch3x3dbl, self.branch_pool(_avg_pool_tf(x))], 1)


class InceptionB(nn.Module):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), branch3x3dbl, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionC(nn.Module):
    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            branch7x7dbl = layer(branch7x7dbl)
        return torch.cat([self.branch1x1(x), branch7x7, branch7x7dbl, self.branch_pool(_avg_pool_tf(x))], 1)


class InceptionD(nn.Module):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3_2(self.branch3x3_1(x))
        branch7x7x3 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            branch7x7x3 = layer(branch7x7x3)
        return torch.cat([branch3x3, branch7x7x3, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionE(nn.Module):
    """The last two blocks; the FID graph pools with TF-style average (Mixed_7b) and, oddly, max (Mixed_7c)."""

    def __init__(self, in_channels: int, pool: Literal["avg", "max"]) -> None:
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)], 1)
        branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat([self.branch3x3dbl_3a(branch3x3dbl), self.branch3x3dbl_3b(branch3x3dbl)], 1)
        if self.pool == "avg":
            pooled = _avg_pool_tf(x)
        else:
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat([self.branch1x1(x), branch3x3, branch3x3dbl, self.branch_pool(pooled)], 1)


class FIDInceptionV3(nn.Module):
    """FID Inception-v3 up to the 2048-d average pool.

    Input (N,3,H,W) float in [0,1], RGB (any size: resized to 299x299 bilinearly). Output (N,2048) features.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c):
            x = block(x)
        for block in (self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def load_fid_inception(weights: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> FIDInceptionV3:
    """FIDInceptionV3 in eval mode with ``pt_inception-2015-12-05`` weights (``weights`` file, else the registry)."""
    path = get_weights_path(INCEPTION_WEIGHTS, local_path=weights)
    state = safe_load(path)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}  # the classifier is not used for FID
    model = FIDInceptionV3()
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(
            f"{path}: not a pytorch-fid Inception state dict ({str(e).splitlines()[0]}). Use "
            f"{INCEPTION_WEIGHTS}.pth from https://github.com/mseitzer/pytorch-fid/releases."
        ) from None
    return model.to(device).eval().requires_grad_(False)


# ----------------------------------------------------------------------------------------------------------------------
# Features, statistics, distance


@torch.no_grad()
def inception_features(
    images: Iterable[np.ndarray | torch.Tensor],
    model: FIDInceptionV3,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """(N,2048) float64 pool features of images given one at a time or in batches.

    Args:
        images: (H,W,3) uint8 RGB arrays, and/or (N,3,H,W) float tensors in [0,1] RGB (a dataset's batches).
        model: from :func:`load_fid_inception`.
        batch_size: images per forward pass (images are resized to 299 first, so sizes may differ).
    """
    features, pending = [], []

    def run() -> None:
        if pending:
            features.append(model(torch.cat(pending)).double().cpu())
            pending.clear()

    for item in images:
        batch = image_to_tensor(item, device) if isinstance(item, np.ndarray) else item.to(device).float()
        for x in batch.split(1):
            pending.append(F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False))
            if len(pending) >= batch_size:
                run()
    run()
    if not features:
        return np.zeros((0, 2048))
    return torch.cat(features).numpy()


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mu (D,), sigma (D,D)) of (N,D) features, float64; N >= 2."""
    if len(features) < 2:
        raise ValueError(f"FID statistics need at least 2 images, got {len(features)}.")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)), float64.

    If ``sqrtm(S1 S2)`` is not finite, eps is added to both diagonals and it is recomputed; an imaginary part
    above 1e-3 on the diagonal is an error, a smaller one is dropped (pytorch-fid's conventions).
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"FID statistics differ in shape: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape}")
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"FID: sqrtm has an imaginary component of {np.max(np.abs(covmean.imag)):.3g}.")
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def load_fid_stats(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) from a ``.npz`` (keys mu, sigma) or BasicSR's ``.pth`` (dict with mean, cov)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FID statistics file {path} does not exist.")
    if path.suffix == ".npz":
        with np.load(path) as data:
            if not {"mu", "sigma"} <= set(data.files):
                raise ValueError(f"{path}: expected arrays 'mu' and 'sigma', found {data.files}.")
            return data["mu"].astype(np.float64), data["sigma"].astype(np.float64)
    stats = safe_load(path, allow_numpy=True)  # BasicSR pickles its statistics as numpy arrays
    if not isinstance(stats, dict) or not {"mean", "cov"} <= set(stats):
        raise ValueError(f"{path}: expected BasicSR FID statistics (a dict with 'mean' and 'cov').")
    return np.asarray(stats["mean"], dtype=np.float64), np.asarray(stats["cov"], dtype=np.float64)


FEATURE_PROTOCOL = "pt_inception-2015-12-05 pool3 2048-d; RGB [0,1] -> bilinear 299 (align_corners False) -> [-1,1]"


def save_fid_stats(path: str | os.PathLike, mu: np.ndarray, sigma: np.ndarray, num_images: int, source: str) -> None:
    """Write ``.npz`` statistics (mu, sigma, num_images, source, protocol)."""
    np.savez(path, mu=mu, sigma=sigma, num_images=num_images, source=source, protocol=FEATURE_PROTOCOL)


def stats_file_num_images(path: str | os.PathLike) -> int | None:
    """The number of images behind a statistics file when it says (our ``.npz``), else None (BasicSR's ``.pth``
    does not; its ``inception_FFHQ_512.pth`` is documented as 50,000 FFHQ images)."""
    if Path(path).suffix != ".npz":
        return None
    with np.load(path) as data:
        return int(data["num_images"]) if "num_images" in data.files else None


def image_files(folder: str | os.PathLike) -> list[Path]:
    exts = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in exts)
    if not files:
        raise FileNotFoundError(f"no images in {folder}")
    return files


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """(H,W,3) uint8 RGB image from a file (gray files are expanded to 3 channels)."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def iter_folder(folder: str | os.PathLike, limit: int | None = None) -> Iterator[np.ndarray]:
    """RGB uint8 images of a folder, sorted by name (at most ``limit``)."""
    for path in image_files(folder)[:limit]:
        yield read_rgb(path)


# ----------------------------------------------------------------------------------------------------------------------
# Reference folders: features or statistics cached by folder content

REFERENCE_CACHE_VERSION = 1
_weights_digests: dict[tuple[str, int, int], str] = {}


def folder_digest(folder: str | os.PathLike) -> tuple[str, int]:
    """(sha256, number of images) of an image folder's content as the file system describes it: the sorted image
    file names (those :func:`image_files` reads) with their sizes and modification times in ns. Any added, removed,
    renamed, rewritten or touched image gives another digest; the pixels themselves are not read."""
    files = image_files(folder)
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest(), len(files)


def weights_digest(path: str | os.PathLike) -> str:
    """sha256 of a weights file, computed once per process for a given (path, size, mtime)."""
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _weights_digests:
        _weights_digests[key] = sha256sum(path)
    return _weights_digests[key]


@dataclass(frozen=True)
class FolderReference:
    """What a folder-based reference was computed from: the folder, its :func:`folder_digest`, the number of
    images, the cache file, and whether the value came from it."""

    folder: str
    sha256: str
    num_images: int
    cache_file: Path | None
    from_cache: bool

    def describe(self) -> str:
        return f"folder {self.folder} (content sha256 {self.sha256[:16]}, {self.num_images} images)"


def reference_cache_file(kind: Literal["stats", "features"], folder_sha256: str, inception_sha256: str) -> Path:
    """``<cache dir>/metrics/inception_<kind>_<key>.pth``; the key hashes the folder digest, the Inception weights'
    sha256, the input protocol (:data:`FEATURE_PROTOCOL`) and the cache format version."""
    key = f"{kind}|{folder_sha256}|{inception_sha256}|{FEATURE_PROTOCOL}|v{REFERENCE_CACHE_VERSION}"
    return cache_dir() / "metrics" / f"inception_{kind}_{hashlib.sha256(key.encode()).hexdigest()[:32]}.pth"


_CACHED_ARRAYS = {"stats": ("mu", "sigma"), "features": ("features",)}


def _read_reference_cache(
    cache_file: Path, kind: Literal["stats", "features"], folder_sha256: str, inception_sha256: str
) -> dict[str, np.ndarray] | None:
    """The arrays of a valid cache file (float64), or None when it is absent, unreadable or for other content."""
    if not cache_file.is_file():
        return None
    try:
        cached = safe_load(cache_file)
    except CheckpointError as e:  # unreadable: recomputed and overwritten
        logger.warning("%s: unreadable reference cache (%s); recomputing it.", cache_file, e)
        return None
    names = _CACHED_ARRAYS[kind]
    if (
        isinstance(cached, dict)
        and cached.get("folder_sha256") == folder_sha256
        and cached.get("inception_sha256") == inception_sha256
        and all(isinstance(cached.get(k), torch.Tensor) for k in names)
    ):
        return {k: cached[k].numpy().astype(np.float64) for k in names}
    return None


def _write_reference_cache(
    cache_file: Path, kind: str, arrays: dict[str, np.ndarray], folder: str | os.PathLike, folder_sha256: str,
    count: int, inception_sha256: str,
) -> None:  # fmt: skip
    dtype = torch.float32 if kind == "features" else torch.float64  # features: lossless (computed in float32)
    entry = {
        **{k: torch.from_numpy(v).to(dtype) for k, v in arrays.items()},
        "folder": str(folder),
        "folder_sha256": folder_sha256,
        "num_images": count,
        "inception_sha256": inception_sha256,
        "protocol": FEATURE_PROTOCOL,
        "version": REFERENCE_CACHE_VERSION,
    }
    try:
        atomic_save(entry, cache_file)
    except OSError as e:  # a read-only or full cache folder costs the next run time, not this result
        logger.warning("could not cache the Inception %s of %s in %s (%s).", kind, folder, cache_file, e)


def folder_reference(
    folder: str | os.PathLike,
    kind: Literal["stats", "features"],
    model: nn.Module,
    inception_sha256: str,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
    use_cache: bool = True,
) -> tuple[dict[str, np.ndarray], FolderReference]:
    """Inception statistics (``{"mu", "sigma"}``) or features (``{"features"}`` (N,2048)) of an image folder, float64.

    With ``use_cache`` they are read from :func:`reference_cache_file` when present (the project's weights-only
    loader); statistics are also derived from cached features (FID after KID on the same folder costs no second
    pass). Otherwise the folder is read once and **both** the features and the statistics are written there
    atomically, so FID and KID against one folder (``--protocol pmrf``: 70,000 FFHQ images) extract it once. A cache
    file that cannot be read is recomputed; nothing is written when the folder changed while it was read. Features
    are stored as float32, which is lossless (the network computes in float32). ``inception_sha256`` identifies the
    weights of ``model`` (:func:`weights_digest`).
    """
    folder_sha256, count = folder_digest(folder)
    files = {k: reference_cache_file(k, folder_sha256, inception_sha256) for k in _CACHED_ARRAYS}
    cache_file = files[kind] if use_cache else None
    if use_cache:
        arrays = _read_reference_cache(files[kind], kind, folder_sha256, inception_sha256)
        if arrays is None and kind == "stats":
            cached = _read_reference_cache(files["features"], "features", folder_sha256, inception_sha256)
            if cached is not None:
                mu, sigma = statistics(cached["features"])
                arrays = {"mu": mu, "sigma": sigma}
                _write_reference_cache(files["stats"], "stats", arrays, folder, folder_sha256, count, inception_sha256)
        if arrays is not None:
            return arrays, FolderReference(str(folder), folder_sha256, count, cache_file, True)
    features = inception_features(iter_folder(folder), model, batch_size, device)
    mu, sigma = statistics(features)
    computed = {"stats": {"mu": mu, "sigma": sigma}, "features": {"features": features}}
    if use_cache:
        if folder_digest(folder)[0] != folder_sha256:
            logger.warning("%s changed while it was read; its Inception %s are not cached.", folder, kind)
        else:
            for k, arrays in computed.items():
                _write_reference_cache(files[k], k, arrays, folder, folder_sha256, count, inception_sha256)
    return computed[kind], FolderReference(str(folder), folder_sha256, count, cache_file, False)


# ----------------------------------------------------------------------------------------------------------------------
# Metric objects


class InceptionSetMetric(Metric):
    """Base of the set-level Inception metrics (FID, KID): accumulates pool features of the restored images (and of
    the ground truth when it is the reference). Images (H,W,3) uint8 RGB; ``per_image`` is empty.

    Reference, in order of precedence: a file (subclass-specific), else ``ref_dir`` (features or statistics computed
    once per folder content and cached, see :func:`folder_reference`), else the ground-truth images of ``update``.
    """

    default_better = "lower"
    reference_kind: Literal["stats", "features"] = "stats"

    def __init__(
        self,
        reference_file: str | None,
        ref_dir: str | None,
        weights: str | None,
        batch_size: int,
        cache: bool,
        device: str | torch.device,
        better: Literal["higher", "lower"] | None,
    ) -> None:
        super().__init__(device=device, better=better)
        self.ref_dir, self.weights, self.batch_size, self.cache = ref_dir, weights, batch_size, cache
        self.needs_gt = reference_file is None and ref_dir is None
        self.weights_path = get_weights_path(INCEPTION_WEIGHTS, local_path=weights)
        self.model = load_fid_inception(self.weights_path, self.device)
        self.folder_reference: FolderReference | None = None
        self.reset()

    def reset(self) -> None:
        super().reset()
        self._restored: list[np.ndarray] = []
        self._gt: list[np.ndarray] = []
        self._pending: list[torch.Tensor] = []
        self._pending_gt: list[torch.Tensor] = []
        self.num_images = 0

    def update(self, restored: np.ndarray, gt: np.ndarray | None = None) -> None:
        if self.needs_gt and gt is None:
            raise ValueError(
                f"{self.name.upper()} without a reference file or ref_dir uses the ground-truth images: update() "
                "needs gt."
            )
        self._pending.append(image_to_tensor(restored, self.device))
        if self.needs_gt:
            self._pending_gt.append(image_to_tensor(gt, self.device))
        self.num_images += 1
        if len(self._pending) >= self.batch_size:
            self._flush()

    def update_batch(self, restored: torch.Tensor, gt: torch.Tensor | None = None) -> None:
        """(N,3,H,W) RGB in [0,1], quantised to 8 bits (as saved images)."""
        self._pending.append(quantize_like_png(restored.to(self.device)).float())
        if self.needs_gt:
            self._pending_gt.append(quantize_like_png(gt.to(self.device)).float())
        self.num_images += len(restored)
        self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._restored.append(inception_features(self._pending, self.model, self.batch_size, self.device))
        if self._pending_gt:
            self._gt.append(inception_features(self._pending_gt, self.model, self.batch_size, self.device))
        self._pending, self._pending_gt = [], []

    @property
    def per_image(self) -> list[float]:
        return []

    def load_features(self, restored: np.ndarray, gt: np.ndarray | None = None) -> None:
        """Replace what was accumulated by (N,2048) features extracted elsewhere (``gfpgan-eval`` extracts them in
        chunks, once for FID and KID, and caches them); ``gt`` (N,2048) when the ground truth is the reference."""
        if self.needs_gt and (gt is None or len(gt) != len(restored)):
            raise ValueError(f"{self.name.upper()} with the ground truth as reference needs one GT feature per image.")
        self._pending, self._pending_gt = [], []
        self._restored = [np.asarray(restored, dtype=np.float64)]
        self._gt = [np.asarray(gt, dtype=np.float64)] if self.needs_gt else []
        self.num_images = len(restored)

    def restored_features(self) -> np.ndarray:
        """(N,2048) float64 features of the restored images seen so far."""
        self._flush()
        return np.concatenate(self._restored) if self._restored else np.zeros((0, 2048))

    def gt_features(self) -> np.ndarray:
        """(N,2048) float64 features of the ground-truth images seen so far."""
        self._flush()
        return np.concatenate(self._gt) if self._gt else np.zeros((0, 2048))

    def folder_arrays(self) -> dict[str, np.ndarray]:
        """The ``ref_dir`` reference (``reference_kind``), from the cache when the folder is unchanged."""
        arrays, self.folder_reference = folder_reference(
            self.ref_dir,
            self.reference_kind,
            self.model,
            weights_digest(self.weights_path),
            self.batch_size,
            self.device,
            use_cache=self.cache,
        )
        return arrays

    def _protocol(self, reference: str, reference_num_images: int | None) -> dict:
        return {
            "metric": self.name,
            "network": f"{INCEPTION_WEIGHTS} (pytorch-fid port), pool3 2048-d",
            "weights": self.weights or INCEPTION_WEIGHTS,
            "resize": "bilinear to 299x299, align_corners False",
            "input": "RGB [0,1] -> [-1,1]",
            "reference": reference,
            "reference_num_images": reference_num_images,
            "num_images": self.num_images,
        }

    def _folder_description(self) -> tuple[str, int]:
        """The ``ref_dir`` reference as the last computation saw it, else as the folder is now."""
        if self.folder_reference is not None:
            return self.folder_reference.describe(), self.folder_reference.num_images
        sha256, count = folder_digest(self.ref_dir)
        return FolderReference(str(self.ref_dir), sha256, count, None, False).describe(), count


@METRICS.register("fid")
class FID(InceptionSetMetric):
    """Set-level FID of the restored images against reference statistics (lower is better).

    Reference: ``stats`` (.npz or BasicSR .pth), else ``ref_dir`` (a folder; its statistics are computed once and
    cached by folder content, weights and protocol unless ``cache`` is False), else the ground-truth images passed to
    ``update``. Images (H,W,3) uint8 RGB. ``per_image`` is empty.
    """

    name = "fid"
    reference_kind = "stats"

    def __init__(
        self,
        stats: str | None = None,
        ref_dir: str | None = None,
        weights: str | None = None,
        batch_size: int = 16,
        cache: bool = True,
        device: str | torch.device = "cpu",
        better: Literal["higher", "lower"] | None = None,
    ) -> None:
        if stats is not None and ref_dir is not None:
            raise ValueError("FID: give either stats (a statistics file) or ref_dir (a folder), not both.")
        self.stats = stats
        self._reference: tuple[np.ndarray, np.ndarray] | None = load_fid_stats(stats) if stats else None
        super().__init__(stats, ref_dir, weights, batch_size, cache, device, better)

    def reference_statistics(self) -> tuple[np.ndarray, np.ndarray]:
        if self._reference is None:
            if self.ref_dir is None:
                return statistics(self.gt_features())  # the GT set changes with every update: not kept
            arrays = self.folder_arrays()
            self._reference = arrays["mu"], arrays["sigma"]
        return self._reference

    def compute(self) -> float:
        if self.num_images < 2:
            raise RuntimeError(f"FID needs at least 2 images, got {self.num_images}.")
        mu, sigma = statistics(self.restored_features())
        return frechet_distance(mu, sigma, *self.reference_statistics())

    def protocol(self) -> dict:
        if self.stats:
            return self._protocol(f"statistics file {self.stats}", stats_file_num_images(self.stats))
        if self.ref_dir:
            return self._protocol(*self._folder_description())
        return self._protocol("the ground-truth images", self.num_images)
