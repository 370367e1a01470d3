"""Seeded weights and images shared by the metric tests (the same code produced the committed golden numbers).

Imported by the other test_metrics_* files as a plain module (pytest puts tests/unit on sys.path).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch


def seeded_state_dict(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, torch.Tensor]:
    """Fill every tensor in sorted key order: conv/linear weights He-scaled normal, BN weight and running_var in
    [0.75, 1.25), everything else N(0, 0.05^2); num_batches_tracked = 0 (consumes no random numbers)."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key in sorted(shapes):
        shape = tuple(shapes[key])
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(0)
        elif key.endswith("running_var") or (key.endswith(".weight") and len(shape) == 1):
            out[key] = torch.rand(shape, generator=gen) * 0.5 + 0.75
        elif key.endswith(".weight") and len(shape) >= 2:
            out[key] = torch.randn(shape, generator=gen) * math.sqrt(2.0 / math.prod(shape[1:]))
        else:
            out[key] = torch.randn(shape, generator=gen) * 0.05
    return out


def seeded_images(seed: int, count: int, h: int, w: int) -> list[np.ndarray]:
    """``count`` (h,w,3) uint8 RGB blurred high-contrast random textures."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        base = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3)).astype(np.float64), (0, 0), 1.5)
        out.append(np.clip(np.round((base - 128) * 3 + 128), 0, 255).astype(np.uint8))
    return out


def test_seeded_generators_reproduce_the_golden_inputs():
    """The golden numbers were computed from exactly these weights and images; a change here invalidates them."""
    from gfpgan.metrics.fid import FIDInceptionV3

    state = seeded_state_dict({k: tuple(v.shape) for k, v in FIDInceptionV3().state_dict().items()}, seed=0)
    assert sum(float(v.double().sum()) for v in state.values()) == pytest.approx(34220.19907162732, rel=1e-12)
    assert int(seeded_images(10, 1, 8, 8)[0].sum()) == 25490
