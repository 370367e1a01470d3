"""Seeded weights, inputs and configurations for the Real-ESRGAN goldens, shared by tests/unit/test_realesrgan.py and
benchmarks/reference_check/make_realesrgan_golden.py (which records tests/data/realesrgan_golden.json from the
official basicsr / realesrgan modules). Imports only numpy and torch, so it runs in the reference environment too.

Every random number comes from an explicit ``torch.Generator`` (CPU), seeded per use: the same torch version gives the
same weights and inputs on every machine; ``fingerprint`` goes into the golden file so that a torch release that draws
different numbers fails with a clear message instead of a numeric mismatch.
"""

from __future__ import annotations

import numpy as np
import torch

SEED = 20240615
N_SAMPLES = 24

# Output goldens: (arch class name, constructor kwargs, input (N,C,H,W)). Small trunks keep them fast on a CPU;
# the released configurations are covered by the key listings below.
NETWORKS: dict[str, tuple[str, dict, tuple[int, int, int, int]]] = {
    "rrdb_x4": ("RRDBNet", {"num_in_ch": 3, "num_out_ch": 3, "scale": 4, "num_block": 2}, (1, 3, 20, 16)),
    "rrdb_x2": ("RRDBNet", {"num_in_ch": 3, "num_out_ch": 3, "scale": 2, "num_block": 2}, (1, 3, 26, 18)),
    "rrdb_x1": (
        "RRDBNet",
        {"num_in_ch": 3, "num_out_ch": 3, "scale": 1, "num_feat": 32, "num_block": 1, "num_grow_ch": 16},
        (1, 3, 24, 20),
    ),
    "srvgg_general_x4v3": (
        "SRVGGNetCompact",
        {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_conv": 32, "upscale": 4, "act_type": "prelu"},
        (1, 3, 20, 16),
    ),
    "srvgg_relu_x2": (
        "SRVGGNetCompact",
        {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 16, "num_conv": 4, "upscale": 2, "act_type": "relu"},
        (2, 3, 15, 13),
    ),
    "srvgg_leakyrelu_x3": (
        "SRVGGNetCompact",
        {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 16, "num_conv": 3, "upscale": 3, "act_type": "leakyrelu"},
        (1, 3, 11, 14),
    ),
}

# Key / shape listings of the released configurations (no forward pass).
RELEASED: dict[str, tuple[str, dict]] = {
    "RealESRGAN_x4plus": ("RRDBNet", {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_block": 23,
                                      "num_grow_ch": 32, "scale": 4}),
    "RealESRGAN_x2plus": ("RRDBNet", {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_block": 23,
                                      "num_grow_ch": 32, "scale": 2}),
    "realesr-general-x4v3": ("SRVGGNetCompact", {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_conv": 32,
                                                 "upscale": 4, "act_type": "prelu"}),
    "realesr-animevideov3": ("SRVGGNetCompact", {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_conv": 16,
                                                 "upscale": 4, "act_type": "prelu"}),
}  # fmt: skip

# Whole-pipeline goldens (the official RealESRGANer.enhance against BackgroundUpsampler.enhance): network name from
# NETWORKS, uint8 BGR image (H,W), enhance options. pre_pad 0 (ours pads all four sides, the official only right and
# bottom) and tile_pad 0 with tiles (ours blends padded tiles, the official crops them) keep the two comparable.
PIPELINES: dict[str, tuple[str, tuple[int, int], dict]] = {
    "x2_odd_size": ("rrdb_x2", (23, 17), {"tile": 0, "tile_pad": 0, "pre_pad": 0}),
    "x4_tiles_unpadded": ("srvgg_general_x4v3", (21, 30), {"tile": 8, "tile_pad": 0, "pre_pad": 0}),
}


def _generator(salt: int) -> torch.Generator:
    return torch.Generator().manual_seed(SEED + salt)


def fill_state(state: dict[str, torch.Tensor], salt: int = 0) -> dict[str, torch.Tensor]:
    """Seeded stand-in weights for a state dict (same keys, shapes and dtypes), walking the keys in sorted order.

    Convs: normal with variance 1/fan_in (activations keep their scale through the trunk); biases: normal(0, 0.05);
    PReLU slopes (1-D ``weight``): uniform in [0.1, 0.3]. RRDBNet's ``conv_last.bias`` is shifted by 0.5, so its output
    (which, unlike SRVGGNetCompact's, is not added to the input) lies mostly inside the image range [0,1].
    """
    gen = _generator(salt)
    out = {}
    for key in sorted(state):
        shape, leaf = tuple(state[key].shape), key.rsplit(".", 1)[-1]
        if leaf == "bias":
            v = torch.randn(shape, generator=gen) * 0.05
        elif len(shape) == 1:
            v = 0.1 + 0.2 * torch.rand(shape, generator=gen)
        else:
            v = torch.randn(shape, generator=gen) / float(np.sqrt(np.prod(shape[1:])))
        if key == "conv_last.bias":
            v = v + 0.5
        out[key] = v.to(state[key].dtype)
    return out


def network_input(shape: tuple[int, ...], salt: int = 1) -> torch.Tensor:
    """Seeded (N,C,H,W) float32 in [0,1), RGB."""
    return torch.rand(shape, generator=_generator(1000 + salt))


def pipeline_image(hw: tuple[int, int], salt: int = 2) -> np.ndarray:
    """Seeded (H,W,3) uint8 BGR image: a smooth ramp plus noise (a photo-like mix of flat and busy areas)."""
    h, w = hw
    ramp = torch.linspace(0, 160, w).view(1, w, 1) + torch.linspace(0, 60, h).view(h, 1, 1)
    noise = torch.randint(0, 96, (h, w, 3), generator=_generator(2000 + salt))
    return (ramp + noise).clamp(0, 255).to(torch.uint8).numpy()


def fingerprint() -> list[float]:
    """A few of the seeded numbers; equal in the golden and here unless torch's generator changed."""
    return [
        float(fill_state({"a.weight": torch.zeros(4, 3, 3, 3)})["a.weight"].sum()),
        float(network_input((1, 3, 4, 4)).sum()),
        float(pipeline_image((4, 5)).astype(np.float64).sum()),
    ]


def sample_indices(numel: int, salt: int) -> list[int]:
    return sorted(np.random.default_rng(salt).choice(numel, min(N_SAMPLES, numel), replace=False).tolist())


def summarise(t: torch.Tensor | np.ndarray, salt: int) -> dict:
    """Shape, mean, mean absolute value and N_SAMPLES values at fixed (salted) flat indices."""
    flat = torch.as_tensor(np.asarray(t.detach() if isinstance(t, torch.Tensor) else t)).double().flatten()
    idx = sample_indices(flat.numel(), salt)
    return {
        "shape": list(t.shape),
        "mean": flat.mean().item(),
        "abs_mean": flat.abs().mean().item(),
        "indices": idx,
        "values": flat[idx].tolist(),
    }


def key_listing(model: torch.nn.Module) -> list:
    return [[k, list(v.shape)] for k, v in model.state_dict().items()]
