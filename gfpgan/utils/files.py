"""Race-safe writes: a file or folder is made under a temporary name beside its target and renamed into place, so
readers (other processes, a later run after a crash) never see it half written."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

__all__ = ["atomic_imwrite", "atomic_write", "publish_dir"]


def _temporary_sibling(path: Path, suffix: str = "") -> Path:
    """A name beside ``path`` that no other process or thread picks: ``.<name>.<pid>.<random>.tmp<suffix>``."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{suffix}")


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8, or bytes) to ``path``: a temporary sibling, then ``os.replace``."""
    path = Path(path)
    tmp = _temporary_sibling(path)
    try:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_imwrite(path: str | os.PathLike, img: np.ndarray, params: Sequence[int] = ()) -> None:
    """``cv2.imwrite`` (so ``img`` is (H,W,3) BGR or (H,W) gray, uint8/uint16; format from the suffix) to a
    temporary sibling with the same suffix, then ``os.replace``. A failed write raises OSError naming the file."""
    path = Path(path)
    tmp = _temporary_sibling(path, path.suffix)
    try:
        try:
            written = cv2.imwrite(str(tmp), img, list(params))
        except cv2.error as e:  # e.g. no writer for the suffix
            raise OSError(f"{path}: could not write the image ({str(e).strip().splitlines()[-1]})") from e
        if not written:
            raise OSError(f"{path}: could not write the image (disk full?)")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def publish_dir(
    out: str | os.PathLike, build: Callable[[Path], object], published: Callable[[Path], bool] = Path.exists
) -> Path:
    """Make the folder ``out`` with ``build(tmp)`` in a temporary sibling, then rename it to ``out``.

    When the rename fails because another process published ``out`` first (``published(out)`` is then true), its
    folder is kept and ours is removed; any other failure is raised. The temporary folder never outlives the call.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_sibling(out)
    try:
        build(tmp)
        try:
            os.rename(tmp, out)
        except OSError:
            if not published(out):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out
