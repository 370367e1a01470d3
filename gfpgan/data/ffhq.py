"""FFHQDataset: high-quality aligned faces as they are (no degradation), for training a StyleGAN2 prior.

Same option names and meaning as BasicSR's ``FFHQDataset`` (``basicsr/data/ffhq_dataset.py``): ``dataroot_gt``,
``io_backend``, ``use_hflip``, ``mean``, ``std``. Differences: the image list is the folder's (or LMDB's) actual
content, not the 70,000 names BasicSR assumes; an unreadable image is an error naming it (or skipped with
``skip_bad_images``) instead of a random retry; the flip comes from a generator seeded by (seed, epoch, index), so
batches do not depend on the number of workers and a resumed run continues the same stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from torch.utils.data import Dataset

from gfpgan.data.ffhq_degradation import SampleKey, parse_key, prepare_synthetic, read_with_skip, to_tensor
from gfpgan.data.image_io import open_store
from gfpgan.data.sampler import sample_rng_seed
from gfpgan.registry import DATASETS

__all__ = ["FFHQDataset"]


@DATASETS.register()
class FFHQDataset(Dataset):
    """Aligned HQ faces -> ``{'gt': (3,S,S) float, normalised by mean/std (RGB), 'gt_path': str}``.

    Args:
        dataroot_gt: folder of aligned faces, an LMDB folder, or the root of a file list.
        io_backend: ``{type: disk | lmdb | filelist[, meta_info_file: list.txt]}``.
        use_hflip: horizontal flip with p 0.5.
        mean, std: normalisation (StyleGAN2: 0.5 and 0.5, images in [-1, 1]).
        out_size: expected side of the faces (None: any; all must be equal for batching).
        resize_gt: resize faces of another size to ``out_size`` instead of failing.
        skip_bad_images: substitute the next readable image for an unreadable one.
        synthetic_faces: ``{num, size, seed}``: generate procedural faces in dataroot_gt if it does not exist.
        seed: seed of the flips (with epoch and index).
    """

    def __init__(
        self,
        dataroot_gt: str,
        io_backend: dict[str, Any],
        use_hflip: bool = True,
        mean: Sequence[float] = (0.5, 0.5, 0.5),
        std: Sequence[float] = (0.5, 0.5, 0.5),
        out_size: int | None = None,
        resize_gt: bool = False,
        skip_bad_images: bool = False,
        synthetic_faces: dict | None = None,
        name: str | None = None,
        phase: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        where = f"datasets.{phase or 'train'}"
        if io_backend.get("type") != "lmdb":
            prepare_synthetic(dataroot_gt, synthetic_faces, None, where)
        self.store = open_store(dataroot_gt, io_backend, where)
        self.use_hflip = use_hflip
        self.mean, self.std = list(mean), list(std)
        self.out_size, self.resize_gt = out_size, resize_gt
        self.skip_bad_images = skip_bad_images
        self.num_skipped = 0
        self.name, self.phase, self.seed = name, phase, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, key: SampleKey) -> dict[str, Any]:
        index, epoch = parse_key(key, self.epoch)
        rng = np.random.default_rng(sample_rng_seed(self.seed, epoch, index))
        i, img = read_with_skip(self.store, index, self.skip_bad_images, self)
        path = self.store.name(i)
        h, w = img.shape[:2]
        if self.out_size is not None and (h, w) != (self.out_size, self.out_size):
            if not self.resize_gt:
                raise ValueError(
                    f"{path}: image is {w}x{h}, expected out_size {self.out_size}x{self.out_size}. Resize the data "
                    "(scripts/prepare_ffhq.py) or set resize_gt: true."
                )
            interp = cv2.INTER_AREA if h > self.out_size else cv2.INTER_CUBIC
            img = np.clip(cv2.resize(img, (self.out_size, self.out_size), interpolation=interp), 0.0, 1.0)
        if self.use_hflip and rng.random() < 0.5:
            img = cv2.flip(img, 1)
        return {"gt": to_tensor(img, self.mean, self.std), "gt_path": path}

    def __repr__(self) -> str:
        return f"FFHQDataset({len(self)} images from {self.store.root}, seed {self.seed})"
