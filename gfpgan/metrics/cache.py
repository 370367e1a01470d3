"""A resumable cache of per-image scores and Inception features, so that an interrupted evaluation starts where it
stopped (``gfpgan-eval --out DIR`` keeps it in ``DIR/cache/``).

Layout of a cache folder:

* ``<method>.jsonl``: one JSON line per (metric, image pair), ``{"m": metric key, "p": pair key, "v": value}``,
  appended and flushed (and fsync'ed) after each chunk of pairs. A line torn by a kill mid-write is ignored when
  read (and a newline is written before the next append, so it never swallows a good line).
* ``features/<feature key>/<chunk>.npz``: Inception pool features (float32, lossless: the network computes in
  float32) of image files, with the keys of those files; each chunk is written to a temporary name and renamed, so
  a chunk is there whole or not at all. Keyed by image file, not by method: the ground-truth features of FID/KID
  are computed once for every method that shares the cache.

Keys: a **pair key** is the restored and GT file names with their sizes and modification times (ns); an **image key**
(features) is the resolved path with size and mtime. Any rewritten or touched file is a miss and is scored again.
A **metric key** hashes the metric's name with its full protocol dict and the options it was built from (weights
given as files enter with their sha256); a **feature key** hashes the Inception feature protocol with the weights'
sha256. Nothing is ever deleted: another protocol simply uses other keys.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["ScoreCache", "feature_key", "image_key", "metric_key", "pair_key"]

CACHE_VERSION = 1


def _file_id(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def pair_key(restored: Path, gt: Path | None) -> str:
    """``name|size:mtime_ns|gt name|size:mtime_ns`` of one image pair (GT fields empty without GT)."""
    gt_part = f"{gt.name}|{_file_id(gt)}" if gt is not None else "|"
    return f"{restored.name}|{_file_id(restored)}|{gt_part}"


def image_key(path: Path) -> str:
    """``resolved path|size:mtime_ns`` of one image file (features are shared across methods by file)."""
    return f"{path.resolve()}|{_file_id(path)}"


def _digest(obj: object) -> str:
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(f"v{CACHE_VERSION}|{text}".encode()).hexdigest()[:24]


def metric_key(name: str, protocol: Mapping, options: Mapping, weights_sha256: str | None = None) -> str:
    """Key of one metric's per-image values: name + full protocol dict + the options it was built from."""
    return f"{name}-{_digest({'name': name, 'protocol': protocol, 'options': options, 'weights': weights_sha256})}"


def feature_key(feature_protocol: str, weights_sha256: str) -> str:
    """Key of Inception features: the input/feature protocol and the sha256 of the Inception weights."""
    return f"inception-{_digest({'protocol': feature_protocol, 'weights': weights_sha256})}"


class ScoreCache:
    """Per-image values of one method (``<folder>/<method>.jsonl``) and Inception features (``<folder>/features/``).

    ``folder`` None: a cache that remembers nothing (``--no-cache``, or no ``--out``/``--cache``).
    """

    def __init__(self, folder: Path | None, method: str) -> None:
        self.folder = folder
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in method) or "method"
        self.values_file = folder / f"{stem}.jsonl" if folder is not None else None
        self._values: dict[str, dict[str, float]] = {}
        if self.values_file is not None and self.values_file.is_file():
            with open(self.values_file, encoding="utf-8") as f:
                for line in f:
                    try:
                        record = json.loads(line)
                        self._values.setdefault(record["m"], {})[record["p"]] = float(record["v"])
                    except (ValueError, KeyError, TypeError):  # a line torn by a kill mid-write: that value is redone
                        continue

    @property
    def enabled(self) -> bool:
        return self.folder is not None

    def values(self, key: str) -> dict[str, float]:
        """``{pair key: value}`` cached for the metric key."""
        return self._values.get(key, {})

    def append(self, key: str, pairs: Sequence[str], values: Sequence[float]) -> None:
        """Record the values of ``pairs`` for metric ``key``: appended, flushed and fsync'ed before returning."""
        self._values.setdefault(key, {}).update(zip(pairs, values))
        if self.values_file is None or not pairs:
            return
        self.values_file.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps({"m": key, "p": p, "v": float(v)}) + "\n" for p, v in zip(pairs, values))
        with open(self.values_file, "a+b") as f:
            if f.tell() > 0:  # after a torn last line, start on a new one
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    lines = "\n" + lines
            f.write(lines.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())

    # ------------------------------------------------------------------------------------------------ features

    def features(self, key: str) -> dict[str, np.ndarray]:
        """``{image key: (2048,) float64}`` of every complete chunk written for the feature key."""
        if self.folder is None:
            return {}
        found: dict[str, np.ndarray] = {}
        for chunk in sorted((self.folder / "features" / key).glob("*.npz")):
            try:
                with np.load(chunk) as data:
                    found.update(zip(data["keys"].tolist(), data["features"].astype(np.float64)))
            except (OSError, ValueError, KeyError):  # unreadable chunk: those images are extracted again
                continue
        return found

    def save_features(self, key: str, images: Sequence[str], features: np.ndarray) -> None:
        """Write (N,2048) features of ``images`` (image keys) as one chunk, atomically (temporary file + rename)."""
        if self.folder is None or not images:
            return
        folder = self.folder / "features" / key
        folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256("\n".join(images).encode()).hexdigest()[:24]
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, keys=np.asarray(list(images)), features=np.asarray(features, dtype=np.float32))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, folder / f"{name}.npz")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
