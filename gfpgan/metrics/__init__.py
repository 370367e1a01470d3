"""Image-quality metrics: pure functions plus metric objects registered in METRICS.

Every image is RGB. Metric objects: ``METRICS.build({"type": "psnr", ...}, where=..., device=...)``; BasicSR's names
(``calculate_psnr``, ``calculate_ssim``, ``calculate_niqe``) are aliases so official option files work.
"""

from gfpgan.metrics import base, color, matlab_resize, niqe, psnr_ssim  # noqa: F401  (registration)
from gfpgan.metrics.base import Metric
from gfpgan.metrics.niqe import NIQE, calculate_niqe
from gfpgan.metrics.psnr_ssim import PSNR, SSIM, calculate_psnr, calculate_psnr_pt, calculate_ssim, calculate_ssim_pt

__all__ = [
    "NIQE",
    "PSNR",
    "SSIM",
    "Metric",
    "calculate_niqe",
    "calculate_psnr",
    "calculate_psnr_pt",
    "calculate_ssim",
    "calculate_ssim_pt",
]
