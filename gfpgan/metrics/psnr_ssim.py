"""PSNR and SSIM, MATLAB-compatible, on RGB images in [0,255] (float64), plus batched torch versions.

Protocol (the GFPGAN/BasicSR convention): optional border crop, optional Y channel of MATLAB ``rgb2ycbcr``
(BT.601, not rounded), float64. SSIM: 11x11 Gaussian window with sigma 1.5, 'valid' filtering,
C1=(0.01*255)^2, C2=(0.03*255)^2, mean of the SSIM map, then mean over channels (as MATLAB ``ssim`` per channel).
No colour or mean/variance correction is applied before scoring.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from gfpgan.metrics.base import Metric, quantize_like_png
from gfpgan.metrics.color import rgb_to_y, rgb_to_y_pt
from gfpgan.registry import METRICS

__all__ = ["PSNR", "SSIM", "calculate_psnr", "calculate_psnr_pt", "calculate_ssim", "calculate_ssim_pt"]

_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


def _prepare(img: np.ndarray, crop_border: int, input_order: str, test_y_channel: bool) -> np.ndarray:
    """-> (H,W,C) float64 in [0,255], cropped, optionally reduced to the Y channel (C=1)."""
    if input_order not in ("HWC", "CHW"):
        raise ValueError(f"input_order must be 'HWC' or 'CHW', got {input_order!r}")
    if img.ndim == 2:
        img = img[..., None]
    elif input_order == "CHW":
        img = img.transpose(1, 2, 0)
    if crop_border:
        img = img[crop_border:-crop_border, crop_border:-crop_border, :]
    if test_y_channel and img.shape[2] == 3:
        img = rgb_to_y(img)[..., None]
    return img.astype(np.float64)


def _check_shapes(img: np.ndarray | torch.Tensor, img2: np.ndarray | torch.Tensor) -> None:
    if tuple(img.shape) != tuple(img2.shape):
        raise ValueError(f"image shapes differ: {tuple(img.shape)} vs {tuple(img2.shape)}")


def calculate_psnr(
    img: np.ndarray, img2: np.ndarray, crop_border: int = 0, input_order: str = "HWC", test_y_channel: bool = False
) -> float:
    """PSNR in dB between two images in [0,255] (uint8 or float), RGB channel order.

    Args:
        img, img2: (H,W,3) (or (3,H,W) with ``input_order='CHW'``, or (H,W)) in [0,255], **RGB**.
        crop_border: pixels removed at each edge before scoring.
        input_order: 'HWC' or 'CHW'.
        test_y_channel: score the Y channel of MATLAB ``rgb2ycbcr`` (BT.601) instead of the three RGB channels.
    Returns:
        10 log10(255^2 / MSE) with the MSE in float64; ``inf`` for identical images.
    """
    _check_shapes(img, img2)
    a = _prepare(img, crop_border, input_order, test_y_channel)
    b = _prepare(img2, crop_border, input_order, test_y_channel)
    mse = np.mean((a - b) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(255.0 * 255.0 / mse))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """Normalised 1-D Gaussian (the 2-D window is its outer product, as MATLAB fspecial('gaussian'))."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """'valid' 2-D correlation of (H,W) float64 with the separable window outer(g, g)."""
    k = len(g)
    rows = np.lib.stride_tricks.sliding_window_view(img, k, axis=0) @ g  # (H-k+1, W)
    return np.lib.stride_tricks.sliding_window_view(rows, k, axis=1) @ g  # (H-k+1, W-k+1)


def _ssim_channel(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two (H,W) float64 channels in [0,255] (H,W >= 11)."""
    g = _gaussian_window()
    mu1, mu2 = _filter_valid(a, g), _filter_valid(b, g)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = _filter_valid(a * a, g) - mu1_sq
    sigma2_sq = _filter_valid(b * b, g) - mu2_sq
    sigma12 = _filter_valid(a * b, g) - mu1_mu2
    ssim_map = ((2 * mu1_mu2 + _C1) * (2 * sigma12 + _C2)) / ((mu1_sq + mu2_sq + _C1) * (sigma1_sq + sigma2_sq + _C2))
    return float(ssim_map.mean())


def calculate_ssim(
    img: np.ndarray, img2: np.ndarray, crop_border: int = 0, input_order: str = "HWC", test_y_channel: bool = False
) -> float:
    """SSIM between two images in [0,255] (uint8 or float), RGB channel order; matches MATLAB ``ssim``.

    Args: as :func:`calculate_psnr`. Each side must be at least 11 pixels after cropping.
    Returns:
        The mean over channels of the mean SSIM map (11x11 Gaussian window, sigma 1.5, valid region), float64.
    """
    _check_shapes(img, img2)
    a = _prepare(img, crop_border, input_order, test_y_channel)
    b = _prepare(img2, crop_border, input_order, test_y_channel)
    if min(a.shape[:2]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels after cropping, got {a.shape[:2]}")
    return float(np.mean([_ssim_channel(a[..., c], b[..., c]) for c in range(a.shape[2])]))


def _prepare_pt(img: torch.Tensor, crop_border: int, test_y_channel: bool) -> torch.Tensor:
    if img.ndim != 4:
        raise ValueError(f"expected an (N,C,H,W) tensor, got shape {tuple(img.shape)}")
    if crop_border:
        img = img[:, :, crop_border:-crop_border, crop_border:-crop_border]
    img = img.to(torch.float64)
    if test_y_channel and img.shape[1] == 3:
        img = rgb_to_y_pt(img)
    return img


def calculate_psnr_pt(
    img: torch.Tensor, img2: torch.Tensor, crop_border: int = 0, test_y_channel: bool = False
) -> torch.Tensor:
    """Batched PSNR: (N,3,H,W) RGB in [0,1] (any float dtype) -> (N,) float64 dB, computed in float64.

    Equals :func:`calculate_psnr` on ``img*255`` (``inf`` for identical images; BasicSR's torch version instead
    adds 1e-8 to the MSE).
    """
    _check_shapes(img, img2)
    a, b = _prepare_pt(img, crop_border, test_y_channel), _prepare_pt(img2, crop_border, test_y_channel)
    mse = ((a - b) ** 2).mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(1.0 / mse)


def calculate_ssim_pt(
    img: torch.Tensor, img2: torch.Tensor, crop_border: int = 0, test_y_channel: bool = False
) -> torch.Tensor:
    """Batched SSIM: (N,3,H,W) RGB in [0,1] -> (N,) float64; equals :func:`calculate_ssim` on ``img*255``."""
    _check_shapes(img, img2)
    a = _prepare_pt(img, crop_border, test_y_channel) * 255.0
    b = _prepare_pt(img2, crop_border, test_y_channel) * 255.0
    channels = a.shape[1]
    g = torch.from_numpy(_gaussian_window()).to(a)
    window = torch.outer(g, g).expand(channels, 1, 11, 11)

    def filt(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, window, groups=channels)  # valid

    mu1, mu2 = filt(a), filt(b)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = filt(a * a) - mu1_sq
    sigma2_sq = filt(b * b) - mu2_sq
    sigma12 = filt(a * b) - mu1_mu2
    ssim_map = ((2 * mu1_mu2 + _C1) * (2 * sigma12 + _C2)) / ((mu1_sq + mu2_sq + _C1) * (sigma1_sq + sigma2_sq + _C2))
    return ssim_map.mean(dim=(1, 2, 3))


class _FullReference(Metric):
    """Shared options of PSNR and SSIM."""

    default_better = "higher"
    needs_gt = True

    def __init__(
        self,
        crop_border: int = 0,
        test_y_channel: bool = False,
        input_order: Literal["HWC", "CHW"] = "HWC",
        device: str | torch.device = "cpu",
        better: Literal["higher", "lower"] | None = None,
    ) -> None:
        super().__init__(device=device, better=better)
        self.crop_border = crop_border
        self.test_y_channel = test_y_channel
        self.input_order = input_order

    def protocol(self) -> dict:
        return {
            "metric": self.name,
            "channels": "Y (MATLAB rgb2ycbcr, BT.601)" if self.test_y_channel else "RGB",
            "crop_border": self.crop_border,
            "test_y_channel": self.test_y_channel,
            "dtype": "float64",
        }


@METRICS.register("psnr", aliases=("calculate_psnr",))
class PSNR(_FullReference):
    """PSNR (dB) per image pair, averaged. Images (H,W,3) uint8 RGB."""

    name = "psnr"

    def update(self, restored: np.ndarray, gt: np.ndarray | None) -> None:
        self._check_pair(restored, gt)
        self._values.append(calculate_psnr(restored, gt, self.crop_border, self.input_order, self.test_y_channel))

    @torch.no_grad()
    def update_batch(self, restored: torch.Tensor, gt: torch.Tensor) -> None:
        """(N,3,H,W) RGB in [0,1]: quantised to 8 bits first (as saved images), then scored on ``self.device``."""
        a, b = quantize_like_png(restored.to(self.device)), quantize_like_png(gt.to(self.device))
        self._values.extend(calculate_psnr_pt(a, b, self.crop_border, self.test_y_channel).tolist())


@METRICS.register("ssim", aliases=("calculate_ssim",))
class SSIM(_FullReference):
    """SSIM per image pair (MATLAB-compatible), averaged. Images (H,W,3) uint8 RGB."""

    name = "ssim"

    def update(self, restored: np.ndarray, gt: np.ndarray | None) -> None:
        self._check_pair(restored, gt)
        self._values.append(calculate_ssim(restored, gt, self.crop_border, self.input_order, self.test_y_channel))

    @torch.no_grad()
    def update_batch(self, restored: torch.Tensor, gt: torch.Tensor) -> None:
        """(N,3,H,W) RGB in [0,1]: quantised to 8 bits first (as saved images), then scored on ``self.device``."""
        a, b = quantize_like_png(restored.to(self.device)), quantize_like_png(gt.to(self.device))
        self._values.extend(calculate_ssim_pt(a, b, self.crop_border, self.test_y_channel).tolist())
