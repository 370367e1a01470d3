"""Image-quality metrics: pure functions plus metric objects registered in METRICS.

Every image is RGB. Metric objects: ``METRICS.build({"type": "psnr", ...}, where=..., device=...)``; BasicSR's names
(``calculate_psnr``, ``calculate_ssim``, ``calculate_niqe``) are aliases so official option files work.
Registered: psnr, ssim, niqe, lpips, fid, kid, deg, lmd.
"""

from gfpgan.metrics import (  # noqa: F401
    base,
    cache,
    color,
    compare,
    fid,
    identity,
    kid,
    landmark,
    lpips,
    matlab_resize,
    niqe,
    psnr_ssim,
    report,
)
from gfpgan.metrics.base import Metric
from gfpgan.metrics.fid import FID, frechet_distance, load_fid_stats
from gfpgan.metrics.identity import IdentityDistance
from gfpgan.metrics.kid import KID
from gfpgan.metrics.landmark import LandmarkDistance
from gfpgan.metrics.lpips import LPIPS
from gfpgan.metrics.niqe import NIQE, calculate_niqe
from gfpgan.metrics.psnr_ssim import PSNR, SSIM, calculate_psnr, calculate_psnr_pt, calculate_ssim, calculate_ssim_pt

__all__ = [
    "FID",
    "KID",
    "LPIPS",
    "NIQE",
    "PSNR",
    "SSIM",
    "IdentityDistance",
    "LandmarkDistance",
    "Metric",
    "calculate_niqe",
    "calculate_psnr",
    "calculate_psnr_pt",
    "calculate_ssim",
    "calculate_ssim_pt",
    "frechet_distance",
    "load_fid_stats",
]
