"""Degradation synthesis for blind face restoration: pure functions driven by an explicit ``numpy.random.Generator``.

GFP-GAN trains on ``x = JPEG_q((y * k_sigma) downsampled by r + n_delta)`` plus colour jitter and occasional gray
(paper Eq. 1; official ranges sigma 0.1-10, r 0.8-8, delta 0-20, q 60-100). Nothing here touches the global
``random`` / ``np.random`` / ``torch`` generators: every random choice comes from the ``rng`` argument, so a sample is
a pure function of its seed.

Conventions: images are ``(H, W, C) float32 in [0, 1]``, **BGR** channel order (OpenCV), like the reference pipeline.
The channel order matters for JPEG (chroma subsampling is done in YCrCb computed from BGR), ``to_gray`` (BT.601
weights) and the torchvision-style colour jitter (``adjust_*``), which take BGR arrays and apply torchvision's RGB
semantics to them. Kernels are ``(K, K) float32`` summing to 1, applied as correlation (``cv2.filter2D``) with
reflect-101 borders.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np
from scipy import special

__all__ = [
    "KERNEL_TYPES",
    "DegradationSettings",
    "add_gaussian_noise",
    "add_jpeg_compression",
    "add_poisson_noise",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "bivariate_gaussian",
    "bivariate_generalized_gaussian",
    "bivariate_plateau",
    "blur",
    "circular_lowpass_kernel",
    "color_jitter_pt",
    "color_jitter_shift",
    "degrade",
    "mesh_grid",
    "random_add_gaussian_noise",
    "random_add_jpeg_compression",
    "random_add_poisson_noise",
    "random_mixed_kernel",
    "resize",
    "sigma_matrix",
    "to_gray",
]

KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso", "sinc")

# ----------------------------------------------------------------------------------------------------------------------
# Kernels (built in float64 - they are tiny - and returned as float32)


def mesh_grid(kernel_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer offsets ``(xx, yy)`` of a ``kernel_size`` square centred on 0 (``-K//2+1 .. K//2``), float64."""
    ax = np.arange(-kernel_size // 2 + 1.0, kernel_size // 2 + 1.0)
    return np.meshgrid(ax, ax)


def sigma_matrix(sig_x: float, sig_y: float, theta: float) -> np.ndarray:
    """Covariance ``R diag(sig_x^2, sig_y^2) R^T`` of a Gaussian rotated by ``theta`` radians, (2, 2) float64."""
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    return rot @ np.diag([sig_x**2, sig_y**2]) @ rot.T


def _quadratic_form(kernel_size: int, sig_x: float, sig_y: float, theta: float, isotropic: bool) -> np.ndarray:
    """``d^T Sigma^-1 d`` for every kernel offset ``d = (x, y)``, (K, K) float64."""
    xx, yy = mesh_grid(kernel_size)
    cov = np.diag([sig_x**2, sig_x**2]) if isotropic else sigma_matrix(sig_x, sig_y, theta)
    a, b, c = np.linalg.inv(cov)[[0, 0, 1], [0, 1, 1]]
    return a * xx * xx + 2 * b * xx * yy + c * yy * yy


def _normalise(kernel: np.ndarray) -> np.ndarray:
    return (kernel / kernel.sum()).astype(np.float32)


def bivariate_gaussian(
    kernel_size: int, sig_x: float, sig_y: float = 0.0, theta: float = 0.0, isotropic: bool = True
) -> np.ndarray:
    """Gaussian kernel ``exp(-q/2)``; isotropic uses only ``sig_x``. (K, K) float32, sums to 1."""
    return _normalise(np.exp(-0.5 * _quadratic_form(kernel_size, sig_x, sig_y, theta, isotropic)))


def bivariate_generalized_gaussian(
    kernel_size: int, sig_x: float, sig_y: float, theta: float, beta: float, isotropic: bool = True
) -> np.ndarray:
    """Generalized Gaussian ``exp(-q^beta / 2)`` (beta=1: Gaussian). (K, K) float32, sums to 1."""
    q = _quadratic_form(kernel_size, sig_x, sig_y, theta, isotropic)
    return _normalise(np.exp(-0.5 * np.power(q, beta)))


def bivariate_plateau(
    kernel_size: int, sig_x: float, sig_y: float, theta: float, beta: float, isotropic: bool = True
) -> np.ndarray:
    """Plateau kernel ``1 / (1 + q^beta)``. (K, K) float32, sums to 1."""
    q = _quadratic_form(kernel_size, sig_x, sig_y, theta, isotropic)
    return _normalise(1.0 / (np.power(q, beta) + 1.0))


def circular_lowpass_kernel(cutoff: float, kernel_size: int, pad_to: int = 0) -> np.ndarray:
    """2-D sinc (ideal circular low-pass, Real-ESRGAN) with ``cutoff`` in radians (pi = Nyquist). (K', K') float32."""
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    xx, yy = mesh_grid(kernel_size)
    r = np.sqrt(xx * xx + yy * yy)
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel = cutoff * special.j1(cutoff * r) / (2 * np.pi * r)
    kernel[kernel_size // 2, kernel_size // 2] = cutoff**2 / (4 * np.pi)  # the limit at r = 0
    kernel = kernel / kernel.sum()
    if pad_to > kernel_size:
        pad = (pad_to - kernel_size) // 2
        kernel = np.pad(kernel, ((pad, pad), (pad, pad)))
    return kernel.astype(np.float32)


def _sample_beta(rng: np.random.Generator, beta_range: Sequence[float]) -> float:
    # Half of the time a heavier (beta < 1), half a lighter (beta > 1) tail than the Gaussian.
    if rng.random() < 0.5:
        return float(rng.uniform(beta_range[0], 1.0))
    return float(rng.uniform(1.0, beta_range[1]))


def random_mixed_kernel(
    rng: np.random.Generator,
    kernel_list: Sequence[str],
    kernel_prob: Sequence[float],
    kernel_size: int = 21,
    sigma_x_range: Sequence[float] = (0.6, 5.0),
    sigma_y_range: Sequence[float] = (0.6, 5.0),
    rotation_range: Sequence[float] = (-math.pi, math.pi),
    betag_range: Sequence[float] = (0.5, 8.0),
    betap_range: Sequence[float] = (0.5, 8.0),
    noise_range: Sequence[float] | None = None,
    sinc_cutoff_range: Sequence[float] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Sample a kernel type by ``kernel_prob`` and its parameters; return ``((K, K) float32 kernel, params)``.

    Types: ``iso``/``aniso`` Gaussian, ``generalized_iso``/``generalized_aniso``, ``plateau_iso``/``plateau_aniso``
    (beta from ``betag_range``/``betap_range``: U(b0, 1) or U(1, b1) with p 0.5 each) and ``sinc`` (circular
    low-pass, cutoff ~ U(sinc_cutoff_range), default [pi/3, pi] for K < 13 else [pi/5, pi]). Isotropic kernels use
    ``sigma_x`` only. ``noise_range``: optional multiplicative kernel noise U(n0, n1) (not for plateau/sinc, as in
    the reference).
    """
    if kernel_size % 2 != 1:
        raise ValueError(f"blur_kernel_size must be odd, got {kernel_size}")
    unknown = [k for k in kernel_list if k not in KERNEL_TYPES]
    if unknown:
        raise ValueError(f"kernel_list: unknown kernel type(s) {unknown}; known: {list(KERNEL_TYPES)}")
    prob = np.asarray(kernel_prob, dtype=np.float64)
    kind = kernel_list[int(rng.choice(len(kernel_list), p=prob / prob.sum()))]
    params: dict[str, Any] = {"kernel": kind}
    if kind == "sinc":
        lo, hi = sinc_cutoff_range or ((math.pi / 3, math.pi) if kernel_size < 13 else (math.pi / 5, math.pi))
        params["cutoff"] = float(rng.uniform(lo, hi))
        return circular_lowpass_kernel(params["cutoff"], kernel_size), params

    isotropic = kind.endswith("iso") and not kind.endswith("aniso")
    sig_x = float(rng.uniform(sigma_x_range[0], sigma_x_range[1]))
    if isotropic:
        sig_y, theta = sig_x, 0.0
    else:
        sig_y = float(rng.uniform(sigma_y_range[0], sigma_y_range[1]))
        theta = float(rng.uniform(rotation_range[0], rotation_range[1]))
    params.update(sigma_x=sig_x, sigma_y=sig_y, theta=theta)
    if kind in ("iso", "aniso"):
        kernel = bivariate_gaussian(kernel_size, sig_x, sig_y, theta, isotropic)
    elif kind.startswith("generalized"):
        params["beta"] = _sample_beta(rng, betag_range)
        kernel = bivariate_generalized_gaussian(kernel_size, sig_x, sig_y, theta, params["beta"], isotropic)
    else:
        params["beta"] = _sample_beta(rng, betap_range)
        kernel = bivariate_plateau(kernel_size, sig_x, sig_y, theta, params["beta"], isotropic)
    if noise_range is not None and not kind.startswith("plateau"):
        kernel = _normalise(kernel * rng.uniform(noise_range[0], noise_range[1], size=kernel.shape))
    return kernel, params


# ----------------------------------------------------------------------------------------------------------------------
# Blur and resize


def _effective_radius(kernel: np.ndarray, tol: float = 1e-9) -> int:
    """Smallest centred radius whose outside ring holds at most ``tol`` of |kernel| (dropping it is below float32
    resolution, so the cropped correlation equals the full one to rounding)."""
    k = kernel.shape[0] // 2
    a = np.abs(kernel.astype(np.float64))
    total = a.sum()
    # ring_mass[r] = mass at Chebyshev distance exactly r from the centre
    yy, xx = np.mgrid[-k : k + 1, -k : k + 1]
    ring = np.bincount(np.maximum(np.abs(yy), np.abs(xx)).ravel(), weights=a.ravel(), minlength=k + 1)
    outside = np.cumsum(ring[::-1])[::-1]  # outside[r] = mass at distance >= r
    for r in range(k + 1):
        if r == k or outside[r + 1] <= tol * total:
            return r
    return k


# Above this radius a non-separable kernel is applied through the DFT (cv2.filter2D's direct path costs ~r^2 per
# pixel; its own DFT path re-tiles the image and costs ~2x ours at 512 px).
_DFT_MIN_RADIUS = 6


def _correlate_dft(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``cv2.filter2D(img, -1, kernel, borderType=BORDER_REFLECT_101)`` computed as one DFT product per channel.

    The image is padded by the kernel radius r with reflect-101 borders (then to a fast DFT size; those extra rows
    and columns never reach the output), and ``IDFT(DFT(padded) * conj(DFT(kernel)))`` is the correlation, whose
    top-left (H, W) block is the result: no circular wrap reaches it because the DFT size is at least H + 2r.
    Equal to the direct correlation within float32 rounding of the transform (~3e-7 for images in [0, 1]).
    """
    r = kernel.shape[0] // 2
    h, w, c = img.shape
    fh, fw = cv2.getOptimalDFTSize(h + 2 * r), cv2.getOptimalDFTSize(w + 2 * r)
    padded = cv2.copyMakeBorder(img, r, fh - h - r, r, fw - w - r, cv2.BORDER_REFLECT_101)
    padded = padded.reshape(fh, fw, c)
    # contiguous planes through numpy: cv2.split is pathologically slow on some padded widths
    planes = np.ascontiguousarray(padded.transpose(2, 0, 1))
    spectrum_k = np.zeros((fh, fw), np.float32)
    spectrum_k[: 2 * r + 1, : 2 * r + 1] = kernel
    spectrum_k = cv2.dft(spectrum_k)
    out = np.empty((h, w, c), np.float32)
    for i in range(c):
        spectrum = cv2.mulSpectrums(cv2.dft(planes[i]), spectrum_k, 0, conjB=True)
        out[:, :, i] = cv2.idft(spectrum, flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)[:h, :w]
    return out


def blur(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate ``img`` (H, W, C) float32 with ``kernel`` (K, K), reflect-101 borders (``cv2.filter2D`` semantics).

    Fast paths that are numerically equivalent (to float32 rounding): negligible outer rings of the kernel are
    cropped, a rank-1 kernel (e.g. any isotropic Gaussian) is applied as two 1-D passes, and a large non-separable
    one through the DFT (``_correlate_dft``).
    """
    kernel = kernel.astype(np.float32, copy=False)
    k = kernel.shape[0] // 2
    r = _effective_radius(kernel)
    if r < k:
        kernel = kernel[k - r : k + r + 1, k - r : k + r + 1]
    c = kernel.shape[0] // 2
    centre = float(kernel[c, c])
    if centre > 0:  # rank-1 test without LAPACK: k == outer(k[:, c], k[c, :]) / k[c, c]
        col, row = kernel[:, c].astype(np.float64), kernel[c, :].astype(np.float64)
        if np.abs(np.outer(col, row) / centre - kernel).max() <= 5e-7 * centre:  # ~4 float32 ulps
            scale = 1.0 / math.sqrt(centre)
            col32, row32 = (col * scale).astype(np.float32), (row * scale).astype(np.float32)
            return cv2.sepFilter2D(img, -1, row32, col32, borderType=cv2.BORDER_REFLECT_101)
    h, w = img.shape[:2]
    if c >= _DFT_MIN_RADIUS and min(h, w) > 2 * c and img.ndim == 3:
        return _correlate_dft(np.ascontiguousarray(img, dtype=np.float32), kernel)
    return cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT_101)


def resize(img: np.ndarray, size: tuple[int, int], interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Resize ``(H, W, C)`` to ``size = (width, height)`` (OpenCV order). Keeps 3 dims for 1-channel images."""
    out = cv2.resize(img, size, interpolation=interpolation)
    return out[:, :, None] if out.ndim == 2 else out


# ----------------------------------------------------------------------------------------------------------------------
# Noise


def _finish(out: np.ndarray, clip: bool, rounds: bool) -> np.ndarray:
    if rounds:
        out = np.round(out * np.float32(255.0)) / np.float32(255.0)
    if clip:
        out = np.clip(out, 0.0, 1.0, out=out)
    return out.astype(np.float32, copy=False)


def add_gaussian_noise(
    img: np.ndarray,
    sigma: float,
    rng: np.random.Generator,
    gray_noise: bool = False,
    clip: bool = True,
    rounds: bool = False,
) -> np.ndarray:
    """Add N(0, (sigma/255)^2) noise (``sigma`` in 0-255 units); ``gray_noise``: one field shared by all channels."""
    h, w, c = img.shape
    noise = rng.standard_normal((h, w, 1) if gray_noise else (h, w, c), dtype=np.float32)
    noise *= np.float32(sigma / 255.0)
    return _finish(img + noise, clip, rounds)


def random_add_gaussian_noise(
    img: np.ndarray,
    rng: np.random.Generator,
    sigma_range: Sequence[float] = (0.0, 10.0),
    gray_prob: float = 0.0,
    clip: bool = True,
    rounds: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Gaussian noise with sigma ~ U(sigma_range) (0-255 units), gray with probability ``gray_prob``."""
    sigma = float(rng.uniform(sigma_range[0], sigma_range[1]))
    gray = bool(rng.random() < gray_prob) if gray_prob > 0 else False
    return add_gaussian_noise(img, sigma, rng, gray, clip, rounds), {"noise_sigma": sigma, "noise_gray": gray}


def add_poisson_noise(
    img: np.ndarray,
    scale: float,
    rng: np.random.Generator,
    gray_noise: bool = False,
    clip: bool = True,
    rounds: bool = False,
) -> np.ndarray:
    """Add (scaled) Poisson shot noise; the photon count is the number of distinct 8-bit levels rounded up to a power
    of two, as in BasicSR. ``img`` is BGR (used for the gray conversion)."""
    src = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None] if gray_noise else img
    quant = np.clip(np.round(src * np.float32(255.0)), 0, 255)
    vals = 2 ** math.ceil(math.log2(max(len(np.unique(quant)), 1)))
    quant /= np.float32(255.0)
    noisy = rng.poisson(quant * vals).astype(np.float32) / np.float32(vals)
    noise = (noisy - quant) * np.float32(scale)
    return _finish(img + noise, clip, rounds)


def random_add_poisson_noise(
    img: np.ndarray,
    rng: np.random.Generator,
    scale_range: Sequence[float] = (0.0, 1.0),
    gray_prob: float = 0.0,
    clip: bool = True,
    rounds: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Poisson noise with scale ~ U(scale_range), gray with probability ``gray_prob``."""
    scale = float(rng.uniform(scale_range[0], scale_range[1]))
    gray = bool(rng.random() < gray_prob) if gray_prob > 0 else False
    return add_poisson_noise(img, scale, rng, gray, clip, rounds), {"poisson_scale": scale, "poisson_gray": gray}


# ----------------------------------------------------------------------------------------------------------------------
# JPEG


def add_jpeg_compression(img: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip through OpenCV at integer ``quality`` (0-100). ``img`` (H, W, 3) float32 [0, 1] BGR; the
    encoder sees ``round(clip(img) * 255)`` as uint8."""
    u8 = cv2.convertScaleAbs(np.clip(img, 0.0, 1.0), alpha=255.0)  # saturating, round-to-nearest
    ok, buf = cv2.imencode(".jpg", u8, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise RuntimeError(f"OpenCV failed to JPEG-encode an image of shape {img.shape}")
    out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    out = out[:, :, None] if out.ndim == 2 else out
    return out.astype(np.float32) / np.float32(255.0)


def random_add_jpeg_compression(
    img: np.ndarray, rng: np.random.Generator, quality_range: Sequence[float] = (90, 100)
) -> tuple[np.ndarray, dict[str, Any]]:
    """JPEG with quality ``int(U(quality_range))`` (the int cast OpenCV >= 4.5.4 requires, BasicSR #578)."""
    quality = int(rng.uniform(quality_range[0], quality_range[1]))
    return add_jpeg_compression(img, quality), {"jpeg_quality": quality}


# ----------------------------------------------------------------------------------------------------------------------
# Colour


def to_gray(img: np.ndarray) -> np.ndarray:
    """BGR (H, W, 3) -> gray repeated to (H, W, 3) (OpenCV BT.601 weights), float32."""
    return np.repeat(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None], 3, axis=2)


def color_jitter_shift(img: np.ndarray, shift: float, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """Add one U(-shift, shift) offset per channel (``shift`` in [0, 1] units), clip to [0, 1]. BGR order."""
    offsets = rng.uniform(-shift, shift, 3).astype(np.float32)
    out = np.clip(img + offsets, 0.0, 1.0)
    return out, {"jitter_shift_bgr": [float(v) for v in offsets]}


# torchvision's rgb_to_grayscale weights (0.2989 R + 0.587 G + 0.114 B) in BGR order, for cv2.transform
_GRAY_BGR = np.array([[0.114, 0.587, 0.2989]], np.float32)


def _rgb_gray(img: np.ndarray) -> np.ndarray:
    """torchvision's ``rgb_to_grayscale`` of a BGR (H, W, 3) float32 array, as (H, W) float32."""
    return cv2.transform(np.ascontiguousarray(img, dtype=np.float32), _GRAY_BGR)


# The blends below are torchvision's ``_blend`` (``clip(ratio * img + (1 - ratio) * other)``) written with one output
# array and in-place updates: each fresh 512 px temporary costs ~1 ms of page faults, more than the arithmetic.


def adjust_brightness(img: np.ndarray, factor: float) -> np.ndarray:
    """torchvision ``adjust_brightness`` semantics: ``clip(factor * img)``."""
    out = np.multiply(img, np.float32(factor), dtype=np.float32)
    return np.clip(out, 0.0, 1.0, out=out)


def adjust_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """torchvision ``adjust_contrast``: blend with the mean of the (torchvision) grayscale image."""
    mean = np.float32(_rgb_gray(img).mean(dtype=np.float32))
    out = np.multiply(img, np.float32(factor), dtype=np.float32)
    out += (np.float32(1.0) - np.float32(factor)) * mean
    return np.clip(out, 0.0, 1.0, out=out)


def adjust_saturation(img: np.ndarray, factor: float) -> np.ndarray:
    """torchvision ``adjust_saturation``: blend with the (torchvision) grayscale image."""
    gray = _rgb_gray(img)
    gray *= np.float32(1.0) - np.float32(factor)
    out = np.multiply(img, np.float32(factor), dtype=np.float32)
    out += gray[:, :, None]
    return np.clip(out, 0.0, 1.0, out=out)


def adjust_hue(img: np.ndarray, factor: float) -> np.ndarray:
    """torchvision ``adjust_hue``: rotate hue by ``factor`` (in turns, [-0.5, 0.5]) in HSV space. BGR in and out.

    Same HSV model as torchvision (V = max, S = (max - min) / max, piecewise-linear hue; gray pixels keep their
    value) through OpenCV's float HSV conversion, with the hue in degrees: equal to torchvision within 2e-6 (a few
    float32 ulps near 1) and ~10x faster than doing it in numpy.
    """
    if not -0.5 <= factor <= 0.5:
        raise ValueError(f"hue factor {factor} is not in [-0.5, 0.5]")
    hsv = cv2.cvtColor(np.ascontiguousarray(img, dtype=np.float32), cv2.COLOR_BGR2HSV_FULL)  # H in [0, 360)
    h = hsv[:, :, 0]
    h += np.float32(factor * 360.0)
    h[h >= np.float32(360.0)] -= np.float32(360.0)  # factor in [-0.5, 0.5]: one wrap either way is the mod
    h[h < np.float32(0.0)] += np.float32(360.0)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL)


def color_jitter_pt(
    img: np.ndarray,
    rng: np.random.Generator,
    brightness: Sequence[float] | None = (0.5, 1.5),
    contrast: Sequence[float] | None = (0.5, 1.5),
    saturation: Sequence[float] | None = (0.0, 1.5),
    hue: Sequence[float] | None = (-0.1, 0.1),
) -> tuple[np.ndarray, dict[str, Any]]:
    """Brightness / contrast / saturation / hue jitter in a random order with factors ~ U(range) (torchvision
    functional semantics, the reference's ``color_jitter_pt``), on a BGR float32 array; ``None`` skips an op."""
    ops = {0: ("brightness", brightness, adjust_brightness), 1: ("contrast", contrast, adjust_contrast),
           2: ("saturation", saturation, adjust_saturation), 3: ("hue", hue, adjust_hue)}  # fmt: skip
    order = [int(i) for i in rng.permutation(4)]
    params: dict[str, Any] = {"jitter_order": [ops[i][0] for i in order]}
    for i in order:
        name, value_range, fn = ops[i]
        if value_range is None:
            continue
        factor = float(rng.uniform(value_range[0], value_range[1]))
        params[name] = factor
        img = fn(img, factor)
    return img, params


# ----------------------------------------------------------------------------------------------------------------------
# The full GFP-GAN degradation of one image


@dataclass
class DegradationSettings:
    """The degradation options of FFHQDegradationDataset (same names and meaning; defaults = official GFPGAN
    values, so ``DegradationSettings()`` is the paper's training degradation)."""

    blur_kernel_size: int = 41
    kernel_list: Sequence[str] = ("iso", "aniso")
    kernel_prob: Sequence[float] = (0.5, 0.5)
    blur_sigma: Sequence[float] = (0.1, 10.0)
    downsample_range: Sequence[float] = (0.8, 8.0)
    noise_range: Sequence[float] | None = (0.0, 20.0)
    jpeg_range: Sequence[float] | None = (60.0, 100.0)
    color_jitter_prob: float | None = 0.3
    color_jitter_shift: float = 20.0  # in 0-255 units
    color_jitter_pt_prob: float | None = 0.3
    brightness: Sequence[float] | None = (0.5, 1.5)
    contrast: Sequence[float] | None = (0.5, 1.5)
    saturation: Sequence[float] | None = (0.0, 1.5)
    hue: Sequence[float] | None = (-0.1, 0.1)
    gray_prob: float | None = 0.01
    gt_gray: bool = False
    betag_range: Sequence[float] = (0.5, 8.0)
    betap_range: Sequence[float] = (0.5, 8.0)
    extra: dict[str, Any] = field(default_factory=dict)  # reserved, unused

    def __post_init__(self) -> None:
        if self.blur_kernel_size % 2 != 1:
            raise ValueError(f"blur_kernel_size must be odd, got {self.blur_kernel_size}")
        if len(self.kernel_list) != len(self.kernel_prob):
            raise ValueError(
                f"kernel_list {list(self.kernel_list)} and kernel_prob {list(self.kernel_prob)} differ in length"
            )
        unknown = [k for k in self.kernel_list if k not in KERNEL_TYPES]
        if unknown:
            raise ValueError(f"kernel_list: unknown kernel type(s) {unknown}; known: {list(KERNEL_TYPES)}")
        if self.downsample_range[0] <= 0:
            raise ValueError(f"downsample_range must be positive, got {list(self.downsample_range)}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("extra")
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def degrade(
    img_gt: np.ndarray, rng: np.random.Generator, settings: DegradationSettings
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Synthesise a low-quality face from ``img_gt`` (H, W, 3) float32 [0, 1] BGR, in the reference order.

    blur (random mixed kernel) -> downsample by r ~ U(downsample_range) (bilinear) -> Gaussian noise -> JPEG ->
    bilinear resize back -> per-channel colour shift (p color_jitter_prob) -> gray (p gray_prob, GT too if gt_gray)
    -> brightness/contrast/saturation/hue jitter (p color_jitter_pt_prob) -> quantise to 8 bits.

    Returns ``(lq, gt, params)``: lq (H, W, 3) float32 [0, 1] BGR on the 8-bit grid, the (possibly grayed) gt, and
    every sampled parameter (JSON-serialisable).
    """
    s = settings
    h, w = img_gt.shape[:2]
    kernel, params = random_mixed_kernel(
        rng, s.kernel_list, s.kernel_prob, s.blur_kernel_size, s.blur_sigma, s.blur_sigma, (-math.pi, math.pi),
        s.betag_range, s.betap_range,
    )  # fmt: skip
    lq = blur(img_gt, kernel)

    scale = float(rng.uniform(s.downsample_range[0], s.downsample_range[1]))
    small = (max(int(w // scale), 1), max(int(h // scale), 1))
    lq = resize(lq, small)
    params.update(downsample_scale=scale, lq_size=[small[0], small[1]])
    if s.noise_range is not None:
        lq, p = random_add_gaussian_noise(lq, rng, s.noise_range)
        params["noise_sigma"] = p["noise_sigma"]
    if s.jpeg_range is not None:
        lq, p = random_add_jpeg_compression(lq, rng, s.jpeg_range)
        params.update(p)
    lq = resize(lq, (w, h))

    if s.color_jitter_prob is not None and rng.random() < s.color_jitter_prob:
        lq, p = color_jitter_shift(lq, s.color_jitter_shift / 255.0, rng)
        params.update(p)
    if s.gray_prob and rng.random() < s.gray_prob:
        lq = to_gray(lq)
        params["gray"] = True
        if s.gt_gray:
            img_gt = to_gray(img_gt)
    if s.color_jitter_pt_prob is not None and rng.random() < s.color_jitter_pt_prob:
        lq, p = color_jitter_pt(lq, rng, s.brightness, s.contrast, s.saturation, s.hue)
        params.update(p)
    # quantise to the 8-bit grid in place (a fresh temporary per step costs more than the arithmetic)
    lq = np.multiply(lq, np.float32(255.0), dtype=np.float32)
    np.rint(lq, out=lq)
    np.clip(lq, 0.0, 255.0, out=lq)
    lq /= np.float32(255.0)
    return lq, img_gt, params
