"""PairedImageDataset (validation / paired training) and SingleImageDataset (evaluation, FID, inference).

Both read images as float32 [0, 1] BGR and return (C, H, W) float32 tensors in RGB (or the Y channel with
``color: y``), normalised ``(x - mean) / std`` when ``mean``/``std`` are given (else in [0, 1]).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from gfpgan.data.ffhq_degradation import SampleKey, parse_key, prepare_synthetic, read_with_skip
from gfpgan.data.image_io import ImageStore, list_images, open_store, read_lmdb_keys
from gfpgan.data.sampler import sample_rng_seed
from gfpgan.registry import DATASETS

__all__ = ["PairedImageDataset", "SingleImageDataset", "bgr_to_y"]


def bgr_to_y(img: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of a BGR [0, 1] image (BasicSR ``bgr2ycbcr(y_only=True)``), (H, W, 1) float32 in [16/255,
    235/255]."""
    y = img @ np.array([24.966, 128.553, 65.481], np.float32) / 255.0 + 16.0 / 255.0
    return y[:, :, None].astype(np.float32)


def _tensor(img: np.ndarray, color: str | None, mean, std) -> torch.Tensor:
    if color == "y":
        img = bgr_to_y(img)
    elif img.shape[2] == 3:
        img = img[:, :, ::-1]
    if mean is not None and std is not None:
        c = img.shape[2]
        img = (img - np.asarray(mean, np.float32)[:c]) / np.asarray(std, np.float32)[:c]
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))


def _check_color(color: str | None, where: str) -> None:
    if color not in (None, "y", "rgb"):
        raise ValueError(f"{where}.color: {color!r} is not one of null, 'rgb', 'y'.")


def _augment(imgs: list[np.ndarray], rng: np.random.Generator, hflip: bool, rot: bool) -> list[np.ndarray]:
    """BasicSR ``augment``: hflip, vflip and transpose each with p 0.5 (the last two only with ``rot``)."""
    do_h = hflip and rng.random() < 0.5
    do_v = rot and rng.random() < 0.5
    do_t = rot and rng.random() < 0.5
    out = []
    for img in imgs:
        if do_h:
            img = img[:, ::-1]
        if do_v:
            img = img[::-1]
        if do_t:
            img = img.transpose(1, 0, 2)
        out.append(np.ascontiguousarray(img))
    return out


@DATASETS.register()
class PairedImageDataset(Dataset):
    """LQ/GT pairs -> ``{'lq', 'gt', 'lq_path', 'gt_path'}``.

    Pairing (as BasicSR): ``io_backend.type: lmdb`` - both roots are LMDBs with the same keys; ``meta_info_file`` -
    one GT file name per line (first token); otherwise every image of the GT folder, the LQ name being
    ``filename_tmpl.format(gt_stem)`` with any image extension. Phase ``train`` with ``gt_size`` crops aligned random
    patches (LQ patch ``gt_size // scale``) and flips/rotates with ``default_rng([seed, epoch, index])``; otherwise
    the GT is cropped to ``scale`` x the LQ size.

    ``synthetic_faces: {num, size, seed, degradation: {...}}``: if the folders are missing, generate the GT faces in
    dataroot_gt and degrade them into dataroot_lq (``degradation`` takes FFHQDegradationDataset's degradation
    options; default the official ones).
    """

    def __init__(
        self,
        dataroot_gt: str,
        dataroot_lq: str,
        io_backend: dict,
        filename_tmpl: str = "{}",
        meta_info_file: str | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        gt_size: int | None = None,
        use_hflip: bool = False,
        use_rot: bool = False,
        color: str | None = None,
        scale: int = 1,
        phase: str | None = None,
        name: str | None = None,
        seed: int = 0,
        skip_bad_images: bool = False,
        synthetic_faces: dict | None = None,
    ) -> None:
        super().__init__()
        where = f"datasets.{phase or 'val'}"
        _check_color(color, where)
        if synthetic_faces:
            from gfpgan.data.testset import ensure_degraded_folder, settings_from_options

            faces = {k: v for k, v in synthetic_faces.items() if k != "degradation"}
            settings = settings_from_options(synthetic_faces.get("degradation"), f"{where}.synthetic_faces.degradation")
            prepare_synthetic(dataroot_gt, faces, None, where)
            ensure_degraded_folder(dataroot_gt, dataroot_lq, int(faces.get("seed", 0)), settings)
        kind = io_backend.get("type")
        for option, root in (("dataroot_gt", dataroot_gt), ("dataroot_lq", dataroot_lq)):
            if not Path(root).exists():
                raise FileNotFoundError(f"{where}.{option}: {root} does not exist.")
        if kind == "lmdb":
            gt_keys, lq_keys = read_lmdb_keys(dataroot_gt), read_lmdb_keys(dataroot_lq)
            if set(gt_keys) != set(lq_keys):
                raise ValueError(f"{where}: the LMDBs {dataroot_lq} and {dataroot_gt} hold different keys "
                                 f"({len(set(gt_keys) ^ set(lq_keys))} differ).")  # fmt: skip
            keys = sorted(gt_keys)
            self.gt = ImageStore("lmdb", dataroot_gt, keys)
            self.lq = ImageStore("lmdb", dataroot_lq, keys)
        elif kind == "disk":
            if meta_info_file:
                if not Path(meta_info_file).is_file():
                    raise FileNotFoundError(f"{where}.meta_info_file: {meta_info_file} does not exist.")
                names = [ln.split()[0] for ln in Path(meta_info_file).read_text().splitlines() if ln.strip()]
                gt_paths = [os.path.join(dataroot_gt, n) for n in names]
            else:
                gt_paths = list_images(dataroot_gt)
            lq_by_stem: dict[str, str] = {}
            for p in list_images(dataroot_lq):
                lq_by_stem.setdefault(Path(p).stem, p)
            lq_paths, missing = [], []
            for p in gt_paths:
                stem = filename_tmpl.format(Path(p).stem)
                same_ext = os.path.join(dataroot_lq, stem + Path(p).suffix)
                match = same_ext if os.path.isfile(same_ext) else lq_by_stem.get(stem)
                (lq_paths.append(match) if match else missing.append(stem))
            if missing:
                raise FileNotFoundError(
                    f"{where}.dataroot_lq: no LQ image for {len(missing)} GT image(s) in "
                    f"{dataroot_lq}, e.g. {missing[:3]} (filename_tmpl {filename_tmpl!r})."
                )
            if not gt_paths:
                raise FileNotFoundError(f"{where}.dataroot_gt: no images in {dataroot_gt}.")
            self.gt = ImageStore("disk", dataroot_gt, gt_paths)
            self.lq = ImageStore("disk", dataroot_lq, lq_paths)
        else:
            raise ValueError(f"{where}.io_backend.type: {kind!r} is not one of 'disk', 'lmdb'.")
        self.mean, self.std = mean, std
        self.gt_size, self.use_hflip, self.use_rot = gt_size, use_hflip, use_rot
        self.color, self.scale, self.phase, self.name = color, scale, phase, name
        self.seed = seed
        self.skip_bad_images = skip_bad_images
        self.num_skipped = 0
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.gt)

    def __getitem__(self, key: SampleKey) -> dict[str, Any]:
        index, epoch = parse_key(key, self.epoch)
        i, img_gt = read_with_skip(self.gt, index, self.skip_bad_images, self)
        img_lq = self.lq.read(i)
        s = self.scale
        if self.phase == "train" and self.gt_size:
            rng = np.random.default_rng(sample_rng_seed(self.seed, epoch, index))
            lq_size = self.gt_size // s
            h, w = img_lq.shape[:2]
            if h < lq_size or w < lq_size:
                raise ValueError(f"{self.lq.name(i)}: LQ {w}x{h} is smaller than the patch {lq_size} (gt_size/scale).")
            top, left = int(rng.integers(0, h - lq_size + 1)), int(rng.integers(0, w - lq_size + 1))
            img_lq = img_lq[top : top + lq_size, left : left + lq_size]
            img_gt = img_gt[top * s : (top + lq_size) * s, left * s : (left + lq_size) * s]
            img_gt, img_lq = _augment([img_gt, img_lq], rng, self.use_hflip, self.use_rot)
        else:
            h, w = img_lq.shape[:2]
            img_gt = img_gt[: h * s, : w * s]
        return {
            "lq": _tensor(img_lq, self.color, self.mean, self.std),
            "gt": _tensor(img_gt, self.color, self.mean, self.std),
            "lq_path": self.lq.name(i),
            "gt_path": self.gt.name(i),
        }


@DATASETS.register()
class SingleImageDataset(Dataset):
    """LQ images only -> ``{'lq', 'lq_path'}`` (evaluation, FID statistics, inference).

    ``io_backend.type``: ``disk`` (sorted folder, or the names listed in ``meta_info_file``), ``lmdb`` or
    ``filelist``. ``synthetic_faces: {num, size, seed}`` generates faces in dataroot_lq if it is missing.
    """

    def __init__(
        self,
        dataroot_lq: str,
        io_backend: dict,
        meta_info_file: str | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        color: str | None = None,
        phase: str | None = None,
        name: str | None = None,
        skip_bad_images: bool = False,
        synthetic_faces: dict | None = None,
    ) -> None:
        super().__init__()
        where = f"datasets.{phase or 'test'}"
        _check_color(color, where)
        if io_backend.get("type") != "lmdb":
            prepare_synthetic(dataroot_lq, synthetic_faces, None, where)
        if meta_info_file and io_backend.get("type") == "disk":
            io_backend = {"type": "filelist", "meta_info_file": meta_info_file}
        self.store = open_store(dataroot_lq, io_backend, where, option="dataroot_lq")
        self.mean, self.std, self.color, self.phase, self.name = mean, std, color, phase, name
        self.skip_bad_images = skip_bad_images
        self.num_skipped = 0
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, key: SampleKey) -> dict[str, Any]:
        index, _ = parse_key(key, self.epoch)
        i, img = read_with_skip(self.store, index, self.skip_bad_images, self)
        return {"lq": _tensor(img, self.color, self.mean, self.std), "lq_path": self.store.name(i)}
