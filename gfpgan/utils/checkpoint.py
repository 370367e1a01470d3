"""Atomic checkpoint writing, training-state discovery and retention.

A file is written to a temporary name in the same directory, flushed to disk and renamed over the target, so a crash
(even kill -9) never leaves a truncated ``.state`` or ``.pth`` under its final name: auto-resume only ever sees
complete files.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["atomic_save", "find_resume_state", "load_training_state", "prune_checkpoints"]

logger = logging.getLogger("gfpgan")
STATE_RE = re.compile(r"^(\d+)\.state$")


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_training_state(path: str | os.PathLike) -> dict:
    """Load a ``<iter>.state`` file (plain tensors and Python containers only: weights_only=True)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise RuntimeError(f"training state {path} could not be read ({type(e).__name__}: {e}).") from e


def find_resume_state(states_dir: str | os.PathLike) -> Path | None:
    """The newest ``<iter>.state`` in ``states_dir`` that loads, or None. Temporary files are ignored."""
    states_dir = Path(states_dir)
    if not states_dir.is_dir():
        return None
    found = sorted(((int(m.group(1)), p) for p in states_dir.iterdir() if (m := STATE_RE.match(p.name))), reverse=True)
    for _, path in found:
        try:
            torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as e:  # a damaged file (e.g. disk full): fall back to the previous one
            logger.warning("skipping unreadable training state %s (%s)", path, e)
            continue
        return path
    return None


def prune_checkpoints(exp_root: str | os.PathLike, keep: int | None) -> None:
    """Keep only the newest ``keep`` training states and the model files of those iterations."""
    if keep is None:
        return
    exp_root = Path(exp_root)
    states = sorted(
        int(m.group(1)) for p in (exp_root / "training_states").glob("*.state") if (m := STATE_RE.match(p.name))
    )
    for iteration in states[:-keep] if keep > 0 else states:
        (exp_root / "training_states" / f"{iteration}.state").unlink(missing_ok=True)
        for model in (exp_root / "models").glob(f"net_*_{iteration}.pth"):
            model.unlink(missing_ok=True)
