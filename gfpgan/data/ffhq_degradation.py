"""FFHQDegradationDataset: high-quality aligned faces, degraded on the fly into (lq, gt) training pairs.

Same option names, defaults and meaning as the official GFPGAN dataset (TencentARC/GFPGAN 1.3.8,
``gfpgan/data/ffhq_degradation_dataset.py``: ``FFHQDegradationDataset``), with the official bugs fixed:
component boxes are looked up by file stem (never by position), a flip mirrors the boxes of that sample only, the JPEG
quality is an integer, and all randomness comes from ``np.random.default_rng([seed, epoch, index])`` instead of the
global generators, so a sample is reproducible whatever the number of workers.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from gfpgan.data.components import component_boxes, load_components
from gfpgan.data.degradations import DegradationSettings, degrade
from gfpgan.data.image_io import BadImageError, ImageStore, open_store
from gfpgan.data.sampler import sample_rng_seed
from gfpgan.registry import DATASETS
from gfpgan.utils.files import atomic_write

__all__ = ["FFHQDegradationDataset", "SampleKey", "parse_key", "to_tensor"]

SampleKey = int | tuple[int, int]


def parse_key(key: SampleKey, default_epoch: int) -> tuple[int, int]:
    """``dataset[index]`` uses the dataset's epoch; ``dataset[(index, epoch)]`` (from EnlargedSampler) its own."""
    if isinstance(key, (tuple, list)):
        index, epoch = key
        return int(index), int(epoch)
    return int(key), int(default_epoch)


def to_tensor(img: np.ndarray, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> torch.Tensor:
    """(H, W, 3) float32 BGR numpy -> (3, H, W) float32 RGB tensor, normalised ``(x - mean) / std`` if given."""
    planes = cv2.split(np.ascontiguousarray(img, dtype=np.float32))[::-1]  # contiguous R, G, B planes
    out = np.empty((len(planes), *img.shape[:2]), np.float32)
    for c, plane in enumerate(planes):
        if mean is not None and std is not None:
            np.subtract(plane, np.float32(mean[c]), out=out[c])
            np.divide(out[c], np.float32(std[c]), out=out[c])
        else:
            out[c] = plane
    return torch.from_numpy(out)


def read_with_skip(store: ImageStore, index: int, skip_bad_images: bool, dataset: Any) -> tuple[int, np.ndarray]:
    """Read image ``index``; with ``skip_bad_images`` substitute the next readable one (deterministically)."""
    for offset in range(len(store)):
        i = (index + offset) % len(store)
        try:
            return i, store.read(i)
        except BadImageError as e:
            if not skip_bad_images:
                raise
            dataset.num_skipped += 1
            warnings.warn(f"skipping bad image: {e}", stacklevel=3)
    raise BadImageError(f"{store.root}: no readable image at all (skip_bad_images is set)")


def prepare_synthetic(
    root: str, synthetic_faces: dict[str, Any] | None, component_path: str | None, where: str
) -> None:
    """Option ``synthetic_faces: {num, size, seed}``: generate faces in ``root`` if it is missing (and copy the
    component JSON to ``component_path`` if that is missing)."""
    if not synthetic_faces:
        return
    from gfpgan.data.synthetic import ensure_synthetic_faces

    unknown = set(synthetic_faces) - {"num", "size", "seed"}
    if unknown:
        raise ValueError(f"{where}.synthetic_faces: unknown key(s) {sorted(unknown)} (known: num, size, seed).")
    for key in ("num", "size"):
        if key not in synthetic_faces:
            raise ValueError(f"{where}.synthetic_faces: missing {key!r}.")
    ensure_synthetic_faces(root, int(synthetic_faces["num"]), int(synthetic_faces["size"]),
                           int(synthetic_faces.get("seed", 0)))  # fmt: skip
    if component_path and not Path(component_path).exists():
        Path(component_path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(component_path, (Path(root) / "components.json").read_bytes())


@DATASETS.register()
class FFHQDegradationDataset(Dataset):
    """Aligned HQ faces -> ``{'lq', 'gt', 'gt_path'[, 'loc_left_eye', 'loc_right_eye', 'loc_mouth']}``.

    ``lq`` and ``gt``: (3, out_size, out_size) float32 tensors, RGB, normalised ``(x - mean) / std`` ([-1, 1] for the
    official mean = std = 0.5). ``loc_*``: (4,) float32 ``(x1, y1, x2, y2)`` in gt pixels.

    Args (the official dataset's names and defaults; module docstring):
        dataroot_gt: folder of aligned faces, an LMDB folder, or the root of a file list.
        io_backend: ``{type: disk | lmdb | filelist[, meta_info_file: list.txt]}``.
        mean, std: normalisation of both lq and gt.
        out_size: expected gt size (also the flip axis of the component boxes).
        use_hflip: horizontal flip of the gt with p 0.5 (before degradation).
        blur_kernel_size, kernel_list, kernel_prob, blur_sigma: blur kernel sampling (sigma used for both axes,
            rotation U(-pi, pi)).
        downsample_range: downsampling factor r ~ U (values < 1 upsample).
        noise_range: Gaussian noise sigma ~ U, 0-255 units (None: no noise).
        jpeg_range: JPEG quality ~ U, cast to int (None: no JPEG).
        color_jitter_prob, color_jitter_shift: per-channel shift U(-shift, shift)/255 with this probability.
        color_jitter_pt_prob, brightness, contrast, saturation, hue: torchvision-style jitter with this probability.
        gray_prob: make lq gray with this probability; gt_gray: then make gt gray too.
        crop_components, component_path, eye_enlarge_ratio: return component boxes (JSON keyed by file stem or the
            official ``.pth``), eyes enlarged by the ratio.
        name, phase: stored, unused.
        seed: base of every sample's random stream ``default_rng([seed, epoch, index])``.
        resize_gt: resize gt images whose size differs from out_size (INTER_AREA down, INTER_CUBIC up) instead of
            raising; component boxes are assumed to be in out_size coordinates.
        skip_bad_images: substitute the next readable image for an unreadable one (counted in ``num_skipped``).
        synthetic_faces: ``{num, size, seed}``: generate procedural faces in dataroot_gt if it does not exist.
        betag_range, betap_range: beta ranges of generalized / plateau kernels (BasicSR defaults).
    """

    def __init__(
        self,
        dataroot_gt: str,
        io_backend: dict,
        mean: Sequence[float],
        std: Sequence[float],
        out_size: int,
        use_hflip: bool,
        blur_kernel_size: int,
        kernel_list: Sequence[str],
        kernel_prob: Sequence[float],
        blur_sigma: Sequence[float],
        downsample_range: Sequence[float],
        noise_range: Sequence[float] | None,
        jpeg_range: Sequence[float] | None,
        color_jitter_prob: float | None = None,
        color_jitter_shift: float = 20.0,
        color_jitter_pt_prob: float | None = None,
        brightness: Sequence[float] | None = (0.5, 1.5),
        contrast: Sequence[float] | None = (0.5, 1.5),
        saturation: Sequence[float] | None = (0.0, 1.5),
        hue: Sequence[float] | None = (-0.1, 0.1),
        gray_prob: float | None = None,
        gt_gray: bool = False,
        crop_components: bool = False,
        component_path: str | None = None,
        eye_enlarge_ratio: float = 1.0,
        name: str | None = None,
        phase: str | None = None,
        seed: int = 0,
        resize_gt: bool = False,
        skip_bad_images: bool = False,
        synthetic_faces: dict | None = None,
        betag_range: Sequence[float] = (0.5, 8.0),
        betap_range: Sequence[float] = (0.5, 8.0),
    ) -> None:
        super().__init__()
        where = f"datasets.{phase or 'train'}"
        if io_backend.get("type") != "lmdb":
            prepare_synthetic(dataroot_gt, synthetic_faces, component_path if crop_components else None, where)
        self.store = open_store(dataroot_gt, io_backend, where)
        self.mean, self.std = list(mean), list(std)
        self.out_size = out_size
        self.use_hflip = use_hflip
        self.settings = DegradationSettings(
            blur_kernel_size=blur_kernel_size, kernel_list=tuple(kernel_list), kernel_prob=tuple(kernel_prob),
            blur_sigma=tuple(blur_sigma), downsample_range=tuple(downsample_range),
            noise_range=None if noise_range is None else tuple(noise_range),
            jpeg_range=None if jpeg_range is None else tuple(jpeg_range),
            color_jitter_prob=color_jitter_prob, color_jitter_shift=color_jitter_shift,
            color_jitter_pt_prob=color_jitter_pt_prob, brightness=brightness, contrast=contrast,
            saturation=saturation, hue=hue, gray_prob=gray_prob, gt_gray=gt_gray,
            betag_range=tuple(betag_range), betap_range=tuple(betap_range),
        )  # fmt: skip
        self.crop_components = crop_components
        self.eye_enlarge_ratio = eye_enlarge_ratio
        self.components: dict[str, Any] = {}
        if crop_components:
            if not component_path:
                raise ValueError(f"{where}.component_path: required when crop_components is true.")
            self.components = load_components(component_path)
            self.component_path = component_path
        self.name, self.phase = name, phase
        self.seed = seed
        self.resize_gt = resize_gt
        self.skip_bad_images = skip_bad_images
        self.num_skipped = 0
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.store)

    def _component_entry(self, stem: str) -> dict:
        entry = self.components.get(stem)
        if entry is None and stem.isdigit():  # FFHQ's 5-digit names vs the official '%08d' keys
            entry = self.components.get(f"{int(stem):08d}")
        if entry is None:
            raise KeyError(
                f"component_path {self.component_path}: no entry for image {stem!r}. Regenerate the file "
                "with scripts/prepare_components.py for this folder."
            )
        return entry

    def _check_size(self, img: np.ndarray, path: str) -> np.ndarray:
        h, w = img.shape[:2]
        if (h, w) == (self.out_size, self.out_size):
            return img
        if not self.resize_gt:
            raise ValueError(
                f"{path}: image is {w}x{h}, expected out_size {self.out_size}x{self.out_size}. Resize the "
                "data (scripts/prepare_ffhq.py) or set resize_gt: true."
            )
        interp = cv2.INTER_AREA if h > self.out_size else cv2.INTER_CUBIC
        img = cv2.resize(img, (self.out_size, self.out_size), interpolation=interp)
        return np.clip(img, 0.0, 1.0)

    def __getitem__(self, key: SampleKey) -> dict[str, Any]:
        index, epoch = parse_key(key, self.epoch)
        rng = np.random.default_rng(sample_rng_seed(self.seed, epoch, index))
        i, img_gt = read_with_skip(self.store, index, self.skip_bad_images, self)
        gt_path = self.store.name(i)
        img_gt = self._check_size(img_gt, gt_path)

        flipped = bool(self.use_hflip and rng.random() < 0.5)
        if flipped:
            img_gt = cv2.flip(img_gt, 1)
        out: dict[str, Any] = {}
        if self.crop_components:
            boxes = component_boxes(self._component_entry(self.store.stem(i)), flipped, self.out_size,
                                    self.eye_enlarge_ratio)  # fmt: skip
            out = {f"loc_{part}": torch.from_numpy(box) for part, box in boxes.items()}

        img_lq, img_gt, _ = degrade(img_gt, rng, self.settings)
        return {
            "lq": to_tensor(img_lq, self.mean, self.std),
            "gt": to_tensor(img_gt, self.mean, self.std),
            "gt_path": gt_path,
            **out,
        }

    def __repr__(self) -> str:
        return f"FFHQDegradationDataset({len(self)} images from {self.store.root}, seed {self.seed})"
