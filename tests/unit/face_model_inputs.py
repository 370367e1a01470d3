"""Deterministic weights and inputs for the face detector / parser goldens, shared by tests/unit/test_face_models.py
and benchmarks/reference_check/make_face_models_golden.py (which records the goldens from facexlib). Imports only numpy
and torch, so it runs in the reference environment too."""

from __future__ import annotations

import numpy as np
import torch

SEED = 20240607
FACE_BIAS, HEAD_GAIN = 0.5, 3.0  # face-logit bias and head weight gain: ~30 priors pass 0.97, 10 survive NMS
DET_HW, PARSE_HW = (64, 80), (96, 128)
RESIZED_TARGET, RESIZED_MAX = 96, 120  # shrunken test scale for the use_origin_size=False path (64x80 -> 96x120)
RESIZED_THRESHOLD = 0.95  # 18 detections on the resized image (none reach 0.97)


def fill_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Deterministic stand-in weights: one numpy Generator walks the keys in sorted order."""
    rng = np.random.default_rng(SEED)
    out = {}
    for key in sorted(state):
        t = state[key]
        leaf, shape = key.rsplit(".", 1)[-1], tuple(t.shape)
        if t.dtype == torch.int64:  # num_batches_tracked
            v = np.zeros(shape)
        elif leaf == "running_var":
            v = rng.uniform(0.5, 1.5, shape)
        elif leaf in ("running_mean", "bias"):
            v = rng.normal(0.0, 0.1, shape)
        elif len(shape) == 1:  # BatchNorm scale
            v = rng.uniform(0.3, 0.7, shape)
        else:  # convolution: unit-variance-preserving scale
            v = rng.normal(0.0, 1.0, shape) / np.sqrt(np.prod(shape[1:]))
        if "Head." in key and leaf == "weight":
            v = v * HEAD_GAIN
        if key.startswith("ClassHead.") and leaf == "bias":  # (background, face) logit pairs
            v = v + np.tile([-FACE_BIAS, FACE_BIAS], shape[0] // 2)
        out[key] = torch.from_numpy(np.asarray(v)).to(t.dtype)
    return out


def detector_image() -> np.ndarray:
    return np.random.default_rng(1).uniform(0, 255, (*DET_HW, 3)).astype(np.float32)


def parser_input() -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(2).uniform(-1, 1, (1, 3, *PARSE_HW)).astype(np.float32))
