"""NIQE (Mittal et al. 2013, "Making a completely blind image quality analyzer"): an exact, vectorised port of the
MATLAB LIVE release (``niqe_release.zip``: ``computequality.m``, ``computefeature.m``, ``estimateaggdparam.m``).

Protocol: MATLAB ``rgb2ycbcr`` Y channel (BasicSR's default, hence most published tables) or ``rgb2gray`` (what the
release's ``computequality.m`` itself applies to an RGB image) of an RGB image, border crop, **rounded** to integers,
cropped to a multiple of 96, two scales (the second from MATLAB bicubic antialiased ``imresize(0.5)``), local
normalisation ``(x - mu) / (sigma + 1)`` with the 7x7 Gaussian window (replicate border), 96x96 (48x48 at scale 2)
non-overlapping blocks, 18 AGGD features per block and scale, a multivariate Gaussian fitted to the block features
(NaN-aware mean, covariance over NaN-free rows) and the distance
``sqrt((mu_p - mu_d) pinv((S_p + S_d) / 2) (mu_p - mu_d)^T)`` to the pristine model. Lower is better.

The pristine model ``data/niqe_pris_params.npz`` holds the published parameters of the MATLAB release
(``mu_pris_param`` (1,36), ``cov_pris_param`` (36,36), ``gaussian_window`` (7,7)), as redistributed with BasicSR.

Two numerical variants of the same algorithm (``variant``, see ``VARIANTS``):

* ``matlab`` (default): the LIVE release as MATLAB runs it, in float64 over all blocks at once (no Python loop over
  blocks).
* ``basicsr``: BasicSR 1.4.2's ``calculate_niqe``, used for many published tables: a float32 pipeline (Y through
  float32 [0,1] values, numpy's half-to-even rounding, float32 local normalisation, a float32 torch resize of
  ``img / 255``, float32 AGGD moments block by block), OpenCV's gray weights for ``convert_to='gray'``, and an error
  for fewer than two usable blocks. It equals BasicSR's values to ~1e-13 where the float32 BLAS sums in the same
  order; in flat or saturated areas float32 rounding residuals decide some AGGD fits, so on another CPU/BLAS BasicSR's
  own value (and ours) can move by up to ~1e-2.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from scipy.special import gamma

from gfpgan.metrics.base import Metric
from gfpgan.metrics.color import rgb_to_gray, rgb_to_gray_opencv_float32, rgb_to_y, rgb_to_y_float32
from gfpgan.metrics.matlab_resize import imresize, imresize_float32_mv
from gfpgan.registry import METRICS

__all__ = ["NIQE", "VARIANTS", "Numerics", "calculate_niqe", "niqe", "niqe_pristine_params"]

PRISTINE_PARAMS_PATH = Path(__file__).resolve().parent / "data" / "niqe_pris_params.npz"
BLOCK_SIZE = 96
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))  # horizontal, vertical, two diagonals (circshift within a block)


@dataclass(frozen=True)
class Numerics:
    """How one NIQE computation handles precision and conversions (the algorithm itself never changes).

    Attributes:
        dtype: precision of the image pipeline (colour conversion, rounding, local normalisation, resize) and of
            the AGGD moments of each block (float32: taken block by block as BasicSR does, see ``_aggd_fit``).
        rounding: to integers before scoring: "half_away" (MATLAB ``round``) or "half_even" (``numpy.round``).
        resize: the second scale. "matlab": float64 MATLAB ``imresize`` of the [0,255] image; "basicsr": BasicSR's
            float32 torch resize of ``img / 255``, multiplied back by 255 (:func:`imresize_float32_mv`).
        conversion: RGB to one channel. "matlab": MATLAB's ``rgb2ycbcr`` Y / ``rgb2gray`` in float64; "basicsr":
            Y through float32 [0,1] values (:func:`rgb_to_y_float32`), gray with OpenCV's 0.299/0.587/0.114.
        single_row_cov: a single complete block gives a zero covariance ("zero", MATLAB's ``cov``) or an error
            ("error": numpy's ``cov`` of one row is NaN and BasicSR's ``pinv`` then fails).
    """

    dtype: type[np.floating]
    rounding: Literal["half_away", "half_even"]
    resize: Literal["matlab", "basicsr"]
    conversion: Literal["matlab", "basicsr"]
    single_row_cov: Literal["zero", "error"]


# matlab: the LIVE release in MATLAB (double precision). basicsr: BasicSR 1.4.2's ``calculate_niqe``, which feeds a
# float32 image through the same algorithm; on images with flat (e.g. saturated) areas the two differ by up to a
# few hundredths, because the sign of tiny rounding residuals there decides the AGGD fit of those blocks.
VARIANTS: dict[str, Numerics] = {
    "matlab": Numerics(np.float64, "half_away", "matlab", "matlab", "zero"),
    "basicsr": Numerics(np.float32, "half_even", "basicsr", "basicsr", "error"),
}


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


def _aggd_ratios(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left_std, right_std, rhatnorm) of every row of ``x`` (N, M), float64, vectorised over the rows."""
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
    return left_std, right_std, rhatnorm


def _aggd_ratios_float32(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same in float32, row by row, each mean taken by ``np.mean`` over the selected samples only (the negative
    ones, the positive ones, all): the float32 rounding of BasicSR's ``estimate_aggd_param``, which decides the grid
    point of a few blocks (a 0.001 step of alpha)."""
    out = np.empty((3, len(x)), dtype=np.float32)
    nan = np.float32("nan")
    for i, row in enumerate(x):
        neg, pos = row[row < 0], row[row > 0]
        left = np.sqrt(np.mean(neg * neg)) if len(neg) else nan
        right = np.sqrt(np.mean(pos * pos)) if len(pos) else nan
        g = left / right
        rhat = np.mean(np.abs(row)) ** 2 / np.mean(row * row)
        out[:, i] = left, right, (rhat * (g**3 + 1) * (g + 1)) / ((g**2 + 1) ** 2)
    return out[0], out[1], out[2]


def _aggd_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AGGD parameters of every row of ``x`` (N, M): (alpha, beta_left, beta_right), each (N,) float64.

    MATLAB ``estimateaggdparam``: moment matching over the grid of shape parameters. A row without negative (or
    positive) samples gives NaN betas, and alpha = 0.2 (MATLAB's ``min`` over an all-NaN vector returns index 1).
    The moments are taken in the precision of ``x`` (float64, or float32 for ``variant="basicsr"``).
    """
    gam, r_gam = _gamma_grid()
    with np.errstate(invalid="ignore", divide="ignore"):
        left_std, right_std, rhatnorm = (_aggd_ratios_float32 if x.dtype == np.float32 else _aggd_ratios)(x)
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
    numerics: Numerics | None = None,
) -> float:
    """NIQE of a single-channel image.

    Args:
        img: (H,W) gray or Y image in [0,255] (already rounded, as the MATLAB code receives it); at least one
            ``block_size`` x ``block_size`` block.
        mu_pris_param, cov_pris_param, gaussian_window: the pristine model, see :func:`niqe_pristine_params`.
        block_size: block side at the first scale (96 in the release; must be even).
        numerics: precision and conversions, ``VARIANTS["matlab"]`` (default) or ``VARIANTS["basicsr"]``.
    Returns:
        The NIQE score (lower is better); NaN if every block has a NaN feature (e.g. a flat image; variant basicsr:
        a ValueError below two usable blocks).
    """
    if img.ndim != 2:
        raise ValueError(f"niqe() expects an (H,W) gray or Y image, got shape {img.shape}")
    nh, nw = img.shape[0] // block_size, img.shape[1] // block_size
    if nh == 0 or nw == 0:
        raise ValueError(f"NIQE needs an image of at least {block_size}x{block_size} pixels, got {img.shape}")
    num = numerics or VARIANTS["matlab"]
    dtype = num.dtype
    img = np.asarray(img[: nh * block_size, : nw * block_size], dtype=dtype)

    features = []
    for scale in (1, 2):
        # The filter always sums in float64; a float32 pipeline stores its result in float32 (scipy.ndimage's
        # behaviour for float32 input).
        mu = _local_mean(img, gaussian_window).astype(dtype, copy=False)
        sigma = np.sqrt(np.abs(_local_mean(img * img, gaussian_window).astype(dtype, copy=False) - mu * mu))
        structdis = (img - mu) / (sigma + 1)
        features.append(_block_features(_to_blocks(structdis, block_size // scale)))
        if scale == 1:
            if num.resize == "matlab":
                img = imresize(img, 0.5)
            else:
                img = imresize_float32_mv(img / np.float32(255.0), 0.5) * np.float32(255.0)
    features = np.concatenate(features, axis=1)  # (blocks, 36), float64

    # Multivariate Gaussian of the distorted image: MATLAB nanmean / nancov (rows with any NaN dropped;
    # normalised by N-1, or by 1 for a single row as MATLAB's cov does).
    mu_dist = np.nanmean(features, axis=0)
    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) < 2 and num.single_row_cov == "error":
        raise ValueError(
            f"NIQE (variant basicsr): {len(complete)} block(s) without NaN features; BasicSR's computation fails "
            "below 2 (its covariance is NaN). Give a larger image, or use variant 'matlab'."
        )
    if len(complete) == 0:
        return float("nan")
    cov_dist = np.cov(complete, rowvar=False, ddof=1 if len(complete) > 1 else 0)
    diff = mu_pris_param.reshape(-1) - mu_dist
    quality = diff @ np.linalg.pinv((cov_pris_param + cov_dist) / 2) @ diff
    return float(np.sqrt(quality))


def calculate_niqe(
    img: np.ndarray,
    crop_border: int = 0,
    input_order: str = "HWC",
    convert_to: Literal["y", "gray"] = "y",
    variant: Literal["matlab", "basicsr"] = "matlab",
) -> float:
    """NIQE of an image in [0,255], **RGB** channel order (lower is better).

    Args:
        img: (H,W,3) RGB (or (3,H,W) with ``input_order='CHW'``), or an (H,W) gray/Y image, uint8 or float in
            [0,255].
        crop_border: pixels removed at each edge before scoring.
        input_order: 'HWC' or 'CHW' (ignored for (H,W) input).
        convert_to: 'y' (MATLAB ``rgb2ycbcr`` Y, BT.601; the BasicSR default) or 'gray' (variant matlab: MATLAB
            ``rgb2gray`` weights 0.2989/0.5870/0.1140, what the LIVE ``computequality.m`` applies to an RGB image;
            variant basicsr: OpenCV's 0.299/0.587/0.114).
        variant: 'matlab' (the LIVE release's double-precision computation) or 'basicsr' (BasicSR 1.4.2's
            ``calculate_niqe``: float32 pipeline, numpy's half-to-even rounding, resize on [0,1]); see ``VARIANTS``.
    Returns:
        The NIQE score of the rounded single-channel image.
    """
    if input_order not in ("HWC", "CHW"):
        raise ValueError(f"input_order must be 'HWC' or 'CHW', got {input_order!r}")
    if convert_to not in ("y", "gray"):
        raise ValueError(f"convert_to must be 'y' or 'gray', got {convert_to!r}")
    if variant not in VARIANTS:
        raise ValueError(f"NIQE variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    num = VARIANTS[variant]
    if img.ndim == 3:
        if input_order == "CHW":
            img = img.transpose(1, 2, 0)
        if num.conversion == "matlab":
            img = rgb_to_y(img) if convert_to == "y" else rgb_to_gray(img)
        else:
            img = rgb_to_y_float32(img) if convert_to == "y" else rgb_to_gray_opencv_float32(img)
    img = np.asarray(img, dtype=num.dtype)
    if crop_border:
        img = img[crop_border:-crop_border, crop_border:-crop_border]
    # MATLAB receives an integer image, so rounding is part of the protocol: MATLAB rounds half away from zero
    # (the values are non-negative, so floor(x + 0.5)); numpy rounds half to even.
    img = np.floor(img + 0.5) if num.rounding == "half_away" else np.round(img)
    return niqe(img, *niqe_pristine_params(), numerics=num)


@METRICS.register("niqe", aliases=("calculate_niqe",))
class NIQE(Metric):
    """NIQE per image (no reference), averaged. Images (H,W,3) uint8 RGB; ``gt`` is ignored.

    ``variant``: 'matlab' (the LIVE release in double precision, default) or 'basicsr' (BasicSR 1.4.2's float32
    computation, to compare with tables scored by BasicSR); :func:`calculate_niqe` documents both.
    """

    name = "niqe"
    default_better = "lower"
    needs_gt = False

    def __init__(
        self,
        crop_border: int = 0,
        convert_to: Literal["y", "gray"] = "y",
        input_order: Literal["HWC", "CHW"] = "HWC",
        variant: Literal["matlab", "basicsr"] = "matlab",
        device: str | torch.device = "cpu",
        better: Literal["higher", "lower"] | None = None,
    ) -> None:
        super().__init__(device=device, better=better)
        if variant not in VARIANTS:
            raise ValueError(f"NIQE variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        if convert_to not in ("y", "gray"):
            raise ValueError(f"convert_to must be 'y' or 'gray', got {convert_to!r}")
        self.crop_border = crop_border
        self.convert_to = convert_to
        self.input_order = input_order
        self.variant = variant

    def update(self, restored: np.ndarray, gt: np.ndarray | None = None) -> None:
        self._values.append(
            calculate_niqe(restored, self.crop_border, self.input_order, self.convert_to, variant=self.variant)
        )

    def protocol(self) -> dict:
        if self.variant == "matlab":
            implementation = "MATLAB NIQE (LIVE release) port, float64"
            gray = "gray (MATLAB rgb2gray 0.2989/0.5870/0.1140)"
            rounding = "half away from zero (MATLAB round)"
        else:
            implementation = "BasicSR 1.4.2 calculate_niqe (float32) reproduction"
            gray = "gray (OpenCV 0.299/0.587/0.114, float32)"
            rounding = "half to even (numpy round, float32)"
        return {
            "metric": "niqe",
            "variant": self.variant,
            "implementation": f"{implementation}, pristine model niqe_pris_params.npz",
            "channels": "Y (MATLAB rgb2ycbcr, BT.601)" if self.convert_to == "y" else gray,
            "crop_border": self.crop_border,
            "rounded": rounding,
            "block_size": BLOCK_SIZE,
            "dtype": np.dtype(VARIANTS[self.variant].dtype).name,
        }
