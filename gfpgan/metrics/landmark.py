"""LMD: the landmark distance of VQFR, CodeFormer and PMRF, the mean distance between the 98 WFLW landmarks that the
AWing FAN finds on the restored face and on its ground truth (lower is better).

Protocol (TencentARC/VQFR ``metric_paper/calculate_landmark_distance.py``; ohayonguy/PMRF
``evaluation/calculate_landmark_distance.py`` is the same script, both with facexlib's ``FAN.get_landmarks``):

* the **whole** image, at its own size (512x512 for the usual face test sets; no crop, no detection), is resized to
  256x256 with ``cv2.resize`` (bilinear, ``INTER_LINEAR``, on the uint8 image) and fed as float RGB in [0,1]
  (the reference reads BGR with ``cv2.imread`` and flips it to RGB; the resize acts on each channel alone, so
  resizing our RGB array gives the same input);
* AWing FAN with 4 hourglass stacks (``alignment_WFLW_4HG.pth``) in eval mode; the last stack's 98 landmark heatmaps
  (64x64; the boundary map is dropped) are decoded by :func:`gfpgan.archs.awing.decode_landmarks`: argmax, a quarter
  heatmap pixel towards the larger neighbour on each axis, +0.5, times ``(W/64, H/64)``: (x, y) in image pixels;
* per image: the Euclidean distance of each of the 98 landmark pairs, in pixels of the evaluated image, averaged
  over the landmarks (float64); the metric is the mean over images.

Distances are in pixels of the images as given: 512x512 faces give the numbers of the papers' tables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np
import torch

from gfpgan.metrics.base import Metric, quantize_like_png
from gfpgan.registry import METRICS
from gfpgan.utils.state_dict import safe_load
from gfpgan.utils.weights import get_weights_path

if TYPE_CHECKING:
    from gfpgan.archs.awing import FAN

__all__ = ["LandmarkDistance", "fan_input", "landmark_distance", "load_awing", "predict_landmarks"]

WEIGHTS = "alignment_WFLW_4HG"
INPUT_SIZE = 256  # the FAN's input side (gfpgan.archs.awing.INPUT_SIZE)
SOURCE = (
    "TencentARC/VQFR metric_paper/calculate_landmark_distance.py (= ohayonguy/PMRF "
    "evaluation/calculate_landmark_distance.py) with facexlib FAN.get_landmarks"
)


def load_awing(weights: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> FAN:
    """The 4-stack, 98-landmark AWing FAN with ``alignment_WFLW_4HG.pth`` (or ``weights``), eval mode, frozen.

    The published file is ``{"state_dict": ...}`` (facexlib loads that entry strictly); a bare state dict, with or
    without ``module.`` prefixes, is accepted too. Raises WeightsNotFoundError (naming the file, its URL and the
    folder to put it in) when it is missing, ValueError when it does not fit the network.
    """
    from gfpgan.archs.awing import FAN  # the arch package; imported lazily to keep metrics light

    path = get_weights_path(WEIGHTS, local_path=weights)
    state = safe_load(path)
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise ValueError(f"{path}: holds a {type(state).__name__}, not a state dict; use {WEIGHTS}.pth of facexlib.")
    if any(str(k).startswith("module.") for k in state):
        state = {str(k).removeprefix("module."): v for k, v in state.items()}
    with torch.device("meta"):  # no random initialisation of 24M parameters that are overwritten at once
        model = FAN(num_modules=4, num_landmarks=98)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as e:
        first = next((line.strip() for line in str(e).splitlines()[1:] if line.strip()), str(e))
        raise ValueError(
            f"{path}: not an AWing FAN (4 stacks, 98 landmarks) state dict ({first[:200]}). Use {WEIGHTS}.pth from "
            "the facexlib v0.1.0 release."
        ) from None
    return model.float().to(device).eval().requires_grad_(False)


def fan_input(images: Sequence[np.ndarray], device: str | torch.device = "cpu") -> torch.Tensor:
    """(H,W,3) uint8 RGB images (any sizes) -> (N,3,256,256) float32 RGB in [0,1]: ``cv2.resize`` to 256x256
    (INTER_LINEAR on the uint8 values, as facexlib's ``get_landmarks``), then / 255."""
    resized = []
    for img in images:
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"lmd: expected (H,W,3) uint8 RGB images, got shape {img.shape} dtype {img.dtype}")
        resized.append(cv2.resize(img, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR))
    batch = torch.from_numpy(np.stack(resized)).to(device).permute(0, 3, 1, 2)
    return batch.float() / 255.0


@torch.no_grad()
def predict_landmarks(model: FAN, images: Sequence[np.ndarray]) -> tuple[np.ndarray, torch.Tensor]:
    """Landmarks of each image, as facexlib's ``get_landmarks`` (one batched forward).

    Args:
        model: the AWing FAN (:func:`load_awing`).
        images: (H,W,3) uint8 RGB arrays, sizes may differ.
    Returns:
        (N,98,2) float64 (x, y) in pixels of each image, and the last stack's (N,99,64,64) heatmaps (boundary last).
    """
    from gfpgan.archs.awing import decode_landmarks

    device = next(model.parameters()).device
    heatmaps = model(fan_input(images, device))[-1]
    points = decode_landmarks(heatmaps[:, :-1], [img.shape[:2] for img in images])
    return points.numpy(), heatmaps


def landmark_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over landmarks of the Euclidean distance between (L,2) landmark sets (float64), the per-image LMD."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(np.sqrt((diff**2).sum(axis=1)).mean())


@METRICS.register("lmd", aliases=("landmark_distance",))
class LandmarkDistance(Metric):
    """LMD per image pair: the mean distance in pixels between the AWing FAN's 98 landmarks of the restored face and
    of the ground truth (lower is better). Images (H,W,3) uint8 RGB, the whole face image; batched internally.

    Args:
        weights: ``alignment_WFLW_4HG.pth``; None: the weights registry (``$GFPGAN_WEIGHTS_DIR``,
            experiments/pretrained_models, the cache, a download unless offline).
        batch_size: image pairs per forward pass (the pass holds 2 x batch_size images of 256x256).
        device: where the network runs.
    """

    name = "lmd"
    default_better = "lower"
    needs_gt = True

    def __init__(
        self,
        weights: str | None = None,
        batch_size: int = 8,
        device: str | torch.device = "cpu",
        better: Literal["higher", "lower"] | None = None,
    ) -> None:
        super().__init__(device=device, better=better)
        if batch_size < 1:
            raise ValueError(f"lmd: batch_size must be at least 1, not {batch_size}.")
        self.weights, self.batch_size = weights, batch_size
        self.model = load_awing(weights, self.device)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []

    def reset(self) -> None:
        super().reset()
        self._pending = []

    def update(self, restored: np.ndarray, gt: np.ndarray | None) -> None:
        self._check_pair(restored, gt)
        self._pending.append((restored, gt))
        if len(self._pending) >= self.batch_size:
            self._flush()

    def update_batch(self, restored: torch.Tensor, gt: torch.Tensor) -> None:
        """(N,3,H,W) RGB in [0,1]: quantised to 8 bits (as saved images), then scored as ``update`` scores files."""

        def to_uint8(batch: torch.Tensor) -> np.ndarray:
            return (quantize_like_png(batch) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

        for a, b in zip(to_uint8(restored), to_uint8(gt), strict=True):
            self.update(a, b)

    def landmarks(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N,98,2) float64 (x, y) landmarks in pixels of each (H,W,3) uint8 RGB image, batch_size x 2 per pass."""
        chunk = 2 * self.batch_size
        parts = [predict_landmarks(self.model, images[i : i + chunk])[0] for i in range(0, len(images), chunk)]
        return np.concatenate(parts) if parts else np.zeros((0, 98, 2))

    def _flush(self) -> None:
        if not self._pending:
            return
        pairs, self._pending = self._pending, []
        points = self.landmarks([p[0] for p in pairs] + [p[1] for p in pairs])
        restored, gt = points[: len(pairs)], points[len(pairs) :]
        self._values += [landmark_distance(gt[i], restored[i]) for i in range(len(pairs))]

    def protocol(self) -> dict:
        return {
            "metric": "lmd",
            "network": "AWing FAN, 4 hourglass stacks, 98 WFLW landmarks (facexlib init_alignment_model('awing_fan'))",
            "weights": self.weights or "alignment_WFLW_4HG.pth",
            "input": "whole image, RGB uint8 -> cv2.resize 256x256 (INTER_LINEAR) -> /255, RGB in [0,1]",
            "landmarks": "last stack's 64x64 heatmaps: argmax + 0.25*sign(neighbour difference) + 0.5, "
            "scaled by (W/64, H/64) to image pixels",
            "distance": "per-landmark Euclidean distance in pixels of the evaluated image, mean over the 98 landmarks, "
            "then mean over images",
            "source": SOURCE,
        }
