"""Deterministic weights and inputs for the face detector / parser goldens, shared by tests/unit/test_face_models.py
and benchmarks/reference_check/make_face_models_golden.py (which records the goldens from facexlib). Imports only numpy
and torch, so it runs in the reference environment too."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

SEED = 20240607
FACE_BIAS, HEAD_GAIN = 0.5, 3.0  # face-logit bias and head weight gain: ~30 priors pass 0.97, 10 survive NMS
DET_HW, PARSE_HW = (64, 80), (96, 128)
RESIZED_TARGET, RESIZED_MAX = 96, 120  # shrunken test scale for the use_origin_size=False path (64x80 -> 96x120)
RESIZED_THRESHOLD = 0.95  # 18 detections on the resized image (none reach 0.97)


def seeded_state(
    state: dict[str, torch.Tensor],
    seed: int,
    bn_scale: tuple[float, float] = (0.3, 0.7),
    conv_gain: float = 1.0,
    adjust: Callable[[str, np.ndarray], np.ndarray] | None = None,
) -> dict[str, torch.Tensor]:
    """Deterministic stand-in weights for a network with BatchNorm: one numpy Generator walks the keys in sorted order.

    BatchNorm running means ~ N(0, 0.1^2), running variances ~ U(0.5, 1.5), scales ~ U(*bn_scale), biases
    ~ N(0, 0.1^2) (all non-trivial, so eval-mode BatchNorm is exercised); convolution weights ~ N(0, 1/fan_in) *
    conv_gain (unit-variance preserving at gain 1); ``num_batches_tracked`` 0. Drawn in float64, passed through
    ``adjust(key, values)`` when given, then stored in the key's dtype. Shared by the face-model and the LMD goldens.
    """
    rng = np.random.default_rng(seed)
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
            v = rng.uniform(*bn_scale, shape)
        else:  # convolution
            v = rng.normal(0.0, 1.0, shape) * conv_gain / np.sqrt(np.prod(shape[1:]))
        if adjust is not None:
            v = adjust(key, v)
        out[key] = torch.from_numpy(np.asarray(v)).to(t.dtype)
    return out


def fill_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The detector's and parser's stand-in weights: :func:`seeded_state` with the detection heads scaled and the
    face logits biased, so that some priors pass the 0.97 threshold."""

    def heads(key: str, v: np.ndarray) -> np.ndarray:
        leaf = key.rsplit(".", 1)[-1]
        if "Head." in key and leaf == "weight":
            v = v * HEAD_GAIN
        if key.startswith("ClassHead.") and leaf == "bias":  # (background, face) logit pairs
            v = v + np.tile([-FACE_BIAS, FACE_BIAS], v.shape[0] // 2)
        return v

    return seeded_state(state, SEED, adjust=heads)


def detector_image() -> np.ndarray:
    return np.random.default_rng(1).uniform(0, 255, (*DET_HW, 3)).astype(np.float32)


def parser_input() -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(2).uniform(-1, 1, (1, 3, *PARSE_HW)).astype(np.float32))
