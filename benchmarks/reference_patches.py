"""What the 2022-era reference stack needs to run on today's CPU-only torch, for the reference side of the
benchmarks and checks (benchmarks/reference_worker.py, benchmarks/reference_check/*). Imports only torch at import
time; never imported by the project.

- BasicSR's ``FusedLeakyReLU`` / ``fused_leaky_relu`` exist only as a CUDA extension: ``patch_fused_act()`` puts the
  exact formula ``leaky_relu(x + bias, 0.2) * sqrt(2)`` in every module that imported them.
- GFP-GAN's and StyleGAN2's models build Adam with ``betas=(0**r, 0.99**r)`` (an int), which torch 2 rejects:
  ``patch_float_betas()`` casts them in ``BaseModel.get_optimizer``.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

__all__ = ["FusedLeakyReLU", "fused_leaky_relu", "patch_float_betas", "patch_fused_act"]


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor, negative_slope: float = 0.2, scale: float = 2**0.5):
    return F.leaky_relu(x + bias.view((1, -1) + (1,) * (x.ndim - 2)), negative_slope) * scale


class FusedLeakyReLU(torch.nn.Module):
    def __init__(self, channel: int, negative_slope: float = 0.2, scale: float = 2**0.5) -> None:
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(channel))
        self.negative_slope, self.scale = negative_slope, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)


def patch_fused_act(
    modules: tuple[str, ...] = (
        "basicsr.ops.fused_act",
        "basicsr.ops.fused_act.fused_act",
        "basicsr.archs.stylegan2_arch",
        "gfpgan.archs.gfpganv1_arch",
    ),
) -> None:
    """Replace the CUDA-only op in each of ``modules`` that can be imported (a missing one is reported, not fatal)."""
    for name in modules:
        try:
            module = __import__(name, fromlist=["x"])
        except Exception as e:  # e.g. the official gfpgan is not installed for a BasicSR-only check
            print(f"patch_fused_act: {name} not patched ({type(e).__name__}: {e})", file=sys.stderr)
            continue
        module.FusedLeakyReLU, module.fused_leaky_relu = FusedLeakyReLU, fused_leaky_relu


def patch_float_betas() -> None:
    """BaseModel.get_optimizer with float betas (torch 2 rejects ``0**r`` as an int)."""
    from basicsr.models.base_model import BaseModel

    original = BaseModel.get_optimizer

    def get_optimizer(self, optim_type, params, lr, **kwargs):
        if "betas" in kwargs:
            kwargs["betas"] = tuple(float(b) for b in kwargs["betas"])
        return original(self, optim_type, params, lr, **kwargs)

    BaseModel.get_optimizer = get_optimizer
