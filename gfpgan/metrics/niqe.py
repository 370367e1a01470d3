"""NIQE (Mittal et al. 2013, "Making a completely blind image quality analyzer"): an exact, vectorised port of the
MATLAB LIVE release (``niqe_release.zip``: ``computequality.m``, ``computefeature.m``, ``estimateaggdparam.m``).

Protocol: MATLAB ``rgb2ycbcr`` Y channel (or ``rgb2gray``) of an RGB image, border crop, **rounded** to integers,
cropped to a multiple of 96, two scales (the second from MATLAB bicubic antialiased ``imresize(0.5)``), local
normalisation ``(x - mu) / (sigma + 1)`` with the 7x7 Gaussian window (replicate border), 96x96 (48x48 at scale 2)
non-overlapping blocks, 18 AGGD features per block and scale, a multivariate Gaussian fitted to the block features
(NaN-aware mean, covariance over NaN-free rows) and the distance
``sqrt((mu_p - mu_d) pinv((S_p + S_d) / 2) (mu_p - mu_d)^T)`` to the pristine model. Lower is better.

The pristine model ``data/niqe_pris_params.npz`` holds the published parameters of the MATLAB release
(``mu_pris_param`` (1,36), ``cov_pris_param`` (36,36), ``gaussian_window`` (7,7)), as redistributed with BasicSR.

Everything runs in float64 over all blocks at once; there is no Python loop over blocks.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from scipy.special import gamma

from gfpgan.metrics.base import Metric
from gfpgan.metrics.color import rgb_to_gray, rgb_to_y
from gfpgan.metrics.matlab_resize import imresize
from gfpgan.registry import METRICS

__all__ = ["NIQE", "calculate_niqe", "niqe", "niqe_pristine_params"]

PRISTINE_PARAMS_PATH = Path(__file__).resolve().parent / "data" / "niqe_pris_params.npz"
BLOCK_SIZE = 96
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))  # horizontal, vertical, two diagonals (circshift within a block)


@functools.cache
def niqe_pristine_params() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mu (1,36), cov (36,36), gaussian window (7,7)) of the MATLAB release, float64."""
    with np.load(PRISTINE_PARAMS_PATH) as data:
        return data["mu_pris_param"], data["cov_pris_param"], data["gaussian_window"]


@functools.cache
def _gamma_grid() -> tuple[np.ndarray, np.ndarray]:
    """MATLAB's ``gam = 0.2:0.001:10`` and ``r_gam = gamma(2./gam).^2 ./ (gamma(1./gam) .* gamma(3./gam))``."""
    gam = np.arange(0.2, 10.001, 0.001)
    r_gam = gamma(2 / gam) ** 2 / (gamma(1 / gam) * gamma(3 / gam))
    if not np.all(np.diff(r_gam) > 0):  # the nearest-neighbour search below relies on it
        raise RuntimeError("NIQE: the AGGD ratio grid is not strictly increasing on this platform.")
    return gam, r_gam


def _nearest_grid_index(r_gam: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Index of ``argmin((r_gam - v)^2)`` for each v (first index on ties; 0 for NaN, as MATLAB's ``min``)."""
    hi = np.clip(np.searchsorted(r_gam, value), 1, len(r_gam) - 1)
    lo = hi - 1
    with np.errstate(invalid="ignore"):
        take_hi = (r_gam[hi] - value) ** 2 < (r_gam[lo] - value) ** 2
    index = np.where(take_hi, hi, lo)
    return np.where(np.isnan(value), 0, index)


def _aggd_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AGGD parameters of every row of ``x`` (N, M): (alpha, beta_left, beta_right), each (N,).

    MATLAB ``estimateaggdparam``: moment matching over the grid of shape parameters. A row without negative (or
    positive) samples gives NaN betas, and alpha = 0.2 (MATLAB's ``min`` over an all-NaN vector returns index 1).
    """
    gam, r_gam = _gamma_grid()
    # Few passes over the (N, M) coefficients: the sums of the positive side follow from the totals.
    neg = np.minimum(x, 0.0)
    total_sq = np.einsum("ij,ij->i", x, x)
    left_sq = np.einsum("ij,ij->i", neg, neg)
    n_left = np.count_nonzero(neg, axis=1)
    n_right = np.count_nonzero(x > 0, axis=1)
    abs_sum = x.sum(axis=1) - 2 * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        # A side without samples has no deviation (MATLAB: 0/0 = NaN); keep it NaN whatever the rounding of the sums.
        left_std = np.sqrt(np.where(n_left > 0, left_sq / n_left, np.nan))
        right_std = np.sqrt(np.where(n_right > 0, (total_sq - left_sq) / n_right, np.nan))
        gammahat = left_std / right_std
        # mean(|x|)^2 / mean(x^2), the 1/M factors cancelling to one.
        rhat = abs_sum**2 / (total_sq * x.shape[1])
        rhatnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
    alpha = gam[_nearest_grid_index(r_gam, rhatnorm)]
    ratio = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return alpha, left_std * ratio, right_std * ratio


def _circshift_product(x: np.ndarray, shift: tuple[int, int], out: np.ndarray) -> np.ndarray:
    """``out = x * circshift(x, shift)`` for every block of ``x`` (N, b, b), written as (up to) four slice products."""
    b = x.shape[1]
    di, dj = shift[0] % b, shift[1] % b
    rows = [(slice(di, b), slice(0, b - di))] + ([(slice(0, di), slice(b - di, b))] if di else [])
    cols = [(slice(dj, b), slice(0, b - dj))] + ([(slice(0, dj), slice(b - dj, b))] if dj else [])
    for r_out, r_in in rows:
        for c_out, c_in in cols:
            np.multiply(x[:, r_out, c_out], x[:, r_in, c_in], out=out[:, r_out, c_out])
    return out


def _block_features(blocks: np.ndarray) -> np.ndarray:
    """18 features of every block: (N, b, b) normalised coefficients -> (N, 18), MATLAB ``computefeature`` order.

    Per block: AGGD (alpha, mean of the two betas) of the coefficients, then for each of the four neighbour products
    (horizontal, vertical, two diagonals; circular within the block) AGGD (alpha, mean, beta_left, beta_right).
    """
    n, b, _ = blocks.shape
    alpha, beta_l, beta_r = _aggd_fit(blocks.reshape(n, b * b))
    features = [alpha, (beta_l + beta_r) / 2]
    pair = np.empty_like(blocks)
    for shift in _SHIFTS:
        alpha, beta_l, beta_r = _aggd_fit(_circshift_product(blocks, shift, pair).reshape(n, b * b))
        mean = (beta_r - beta_l) * (gamma(2 / alpha) / gamma(1 / alpha))
        features += [alpha, mean, beta_l, beta_r]
    return np.stack(features, axis=1)


def _local_mean(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    """MATLAB ``imfilter(img, window, 'replicate')`` for the (symmetric, separable) Gaussian window, float64.

    The 7x7 window is ``outer(g, g)`` with ``g`` its row sums (to 3e-17), so it is applied as two 1-D passes.
    """
    g = window.sum(axis=1)
    return cv2.sepFilter2D(img, cv2.CV_64F, g, g, borderType=cv2.BORDER_REPLICATE)


def _to_blocks(img: np.ndarray, block: int) -> np.ndarray:
    """(nh*block, nw*block) -> (nh*nw, block, block) non-overlapping blocks."""
    nh, nw = img.shape[0] // block, img.shape[1] // block
    return img.reshape(nh, block, nw, block).swapaxes(1, 2).reshape(nh * nw, block, block)


def niqe(
    img: np.ndarray,
    mu_pris_param: np.ndarray,
    cov_pris_param: np.ndarray,
    gaussian_window: np.ndarray,
    block_size: int = BLOCK_SIZE,
) -> float:
    """NIQE of a single-channel image.

    Args:
        img: (H,W) gray or Y image in [0,255] (already rounded, as the MATLAB code receives it); at least one
            ``block_size`` x ``block_size`` block.
        mu_pris_param, cov_pris_param, gaussian_window: the pristine model, see :func:`niqe_pristine_params`.
        block_size: block side at the first scale (96 in the release; must be even).
    Returns:
        The NIQE score (lower is better); NaN if every block has a NaN feature (e.g. a flat image).
    """
    if img.ndim != 2:
        raise ValueError(f"niqe() expects an (H,W) gray or Y image, got shape {img.shape}")
    nh, nw = img.shape[0] // block_size, img.shape[1] // block_size
    if nh == 0 or nw == 0:
        raise ValueError(f"NIQE needs an image of at least {block_size}x{block_size} pixels, got {img.shape}")
    img = np.asarray(img[: nh * block_size, : nw * block_size], dtype=np.float64)

    features = []
    for scale in (1, 2):
        mu = _local_mean(img, gaussian_window)
        sigma = np.sqrt(np.abs(_local_mean(img * img, gaussian_window) - mu * mu))
        structdis = (img - mu) / (sigma + 1)
        features.append(_block_features(_to_blocks(structdis, block_size // scale)))
        if scale == 1:
            img = imresize(img, 0.5)
    features = np.concatenate(features, axis=1)  # (blocks, 36)

    # Multivariate Gaussian of the distorted image: MATLAB nanmean / nancov (rows with any NaN dropped;
    # normalised by N-1, or by 1 for a single row as MATLAB's cov does).
    mu_dist = np.nanmean(features, axis=0)
    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) == 0:
        return float("nan")
    cov_dist = np.cov(complete, rowvar=False, ddof=1 if len(complete) > 1 else 0)
    diff = mu_pris_param.reshape(-1) - mu_dist
    quality = diff @ np.linalg.pinv((cov_pris_param + cov_dist) / 2) @ diff
    return float(np.sqrt(quality))


def calculate_niqe(
    img: np.ndarray, crop_border: int = 0, input_order: str = "HWC", convert_to: Literal["y", "gray"] = "y"
) -> float:
    """NIQE of an image in [0,255], **RGB** channel order (lower is better).

    Args:
        img: (H,W,3) RGB (or (3,H,W) with ``input_order='CHW'``), or an (H,W) gray/Y image, uint8 or float in
            [0,255].
        crop_border: pixels removed at each edge before scoring.
        input_order: 'HWC' or 'CHW' (ignored for (H,W) input).
        convert_to: 'y' (MATLAB ``rgb2ycbcr`` Y, BT.601; the BasicSR default) or 'gray' (MATLAB ``rgb2gray``
            weights 0.2989/0.5870/0.1140; BasicSR's 'gray' uses OpenCV's 0.299/0.587/0.114 instead).
    Returns:
        The NIQE score of the rounded single-channel image.
    """
    if input_order not in ("HWC", "CHW"):
        raise ValueError(f"input_order must be 'HWC' or 'CHW', got {input_order!r}")
    if img.ndim == 3:
        if input_order == "CHW":
            img = img.transpose(1, 2, 0)
        if convert_to == "y":
            img = rgb_to_y(img)
        elif convert_to == "gray":
            img = rgb_to_gray(img)
        else:
            raise ValueError(f"convert_to must be 'y' or 'gray', got {convert_to!r}")
    img = np.asarray(img, dtype=np.float64)
    if crop_border:
        img = img[crop_border:-crop_border, crop_border:-crop_border]
    # MATLAB receives an integer image; rounding is part of the protocol (half away from zero, as MATLAB round;
    # values are non-negative so floor(x + 0.5) is MATLAB's rounding).
    img = np.floor(img + 0.5)
    return niqe(img, *niqe_pristine_params())


@METRICS.register("niqe", aliases=("calculate_niqe",))
class NIQE(Metric):
    """NIQE per image (no reference), averaged. Images (H,W,3) uint8 RGB; ``gt`` is ignored."""

    name = "niqe"
    default_better = "lower"
    needs_gt = False

    def __init__(
        self,
        crop_border: int = 0,
        convert_to: Literal["y", "gray"] = "y",
        input_order: Literal["HWC", "CHW"] = "HWC",
        device: str | torch.device = "cpu",
        better: Literal["higher", "lower"] | None = None,
    ) -> None:
        super().__init__(device=device, better=better)
        self.crop_border = crop_border
        self.convert_to = convert_to
        self.input_order = input_order

    def update(self, restored: np.ndarray, gt: np.ndarray | None = None) -> None:
        self._values.append(calculate_niqe(restored, self.crop_border, self.input_order, self.convert_to))

    def protocol(self) -> dict:
        return {
            "metric": "niqe",
            "implementation": "MATLAB NIQE (LIVE release) port, pristine model niqe_pris_params.npz",
            "channels": "Y (MATLAB rgb2ycbcr, BT.601)" if self.convert_to == "y" else "gray (MATLAB rgb2gray)",
            "crop_border": self.crop_border,
            "rounded": True,
            "block_size": BLOCK_SIZE,
            "dtype": "float64",
        }
