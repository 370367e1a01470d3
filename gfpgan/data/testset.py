"""CelebA-Test-style degraded test sets: the training degradation applied once, reproducibly, to a folder of HQ faces.

Image ``i`` of the sorted GT folder is degraded with ``np.random.default_rng([seed, 0, i])`` - the stream
``FFHQDegradationDataset`` uses for index ``i`` at epoch 0 - and written as an 8-bit PNG under the GT's file stem (the
degradation ends on the 8-bit grid, so the PNG holds the LQ image exactly). Every sampled parameter goes to a JSON
keyed by file stem. Same inputs and seed -> the same files, bit for bit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gfpgan.data.degradations import DegradationSettings, degrade
from gfpgan.data.image_io import list_images, read_image
from gfpgan.utils.files import atomic_imwrite, atomic_write, publish_dir

__all__ = ["PARAMS_FILE", "degrade_folder", "ensure_degraded_folder", "settings_from_options"]

PARAMS_FILE = "degradation_params.json"


def settings_from_options(options: Mapping[str, Any] | None, where: str = "degradation") -> DegradationSettings:
    """DegradationSettings from an option mapping with FFHQDegradationDataset's names (unknown keys are errors)."""
    options = dict(options or {})
    known = set(DegradationSettings.__dataclass_fields__) - {"extra"}
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"{where}: unknown degradation option(s) {sorted(unknown)}; known: {sorted(known)}")
    for key, value in list(options.items()):
        if isinstance(value, list):
            options[key] = tuple(value)
    return DegradationSettings(**options)


def degrade_folder(
    gt_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    seed: int,
    settings: DegradationSettings | None = None,
    progress: bool = False,
) -> dict[str, dict[str, Any]]:
    """Degrade every image of ``gt_dir`` into ``out_dir`` (PNG, same stems) and write ``degradation_params.json``.

    Args:
        gt_dir: folder of HQ images (any size; read as float32 [0, 1] BGR).
        out_dir: output folder (created).
        seed: base seed; image i uses ``default_rng([seed, 0, i])`` over the sorted file list.
        settings: the degradation (default: the official GFPGAN training degradation).
        progress: show a tqdm bar.
    Returns:
        the sampled parameters per file stem.
    """
    settings = settings or DegradationSettings()
    paths = list_images(gt_dir)
    if not paths:
        raise FileNotFoundError(f"{gt_dir}: no images to degrade.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    params: dict[str, dict[str, Any]] = {}
    iterator = paths
    if progress:
        from tqdm import tqdm

        iterator = tqdm(paths, desc="degrading", unit="img")
    for i, path in enumerate(iterator):
        img = read_image(path)
        lq, _, p = degrade(img, np.random.default_rng([seed, 0, i]), settings)
        stem = Path(path).stem
        atomic_imwrite(out / f"{stem}.png", np.round(lq * 255).astype(np.uint8))
        params[stem] = {"source": Path(path).name, "index": i, **p}
    record = {"seed": seed, "settings": settings.to_dict(), "images": params}
    atomic_write(out / PARAMS_FILE, json.dumps(record, indent=1))
    return params


def ensure_degraded_folder(
    gt_dir: str | os.PathLike, out_dir: str | os.PathLike, seed: int, settings: DegradationSettings
) -> Path:
    """Create ``out_dir`` with ``degrade_folder`` if it does not exist (temp sibling + rename; a concurrent winner's
    folder is kept)."""
    out = Path(out_dir)
    if (out / PARAMS_FILE).is_file():
        return out
    # a folder without PARAMS_FILE in the way is not a concurrent winner's: publish_dir raises
    build = lambda tmp: degrade_folder(gt_dir, tmp, seed, settings)  # noqa: E731
    return publish_dir(out, build, published=lambda folder: (folder / PARAMS_FILE).is_file())
