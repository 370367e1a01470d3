"""Checkpoints you can trust: atomic writes, verified training states, safe retention, resume discovery.

- ``atomic_save``: a file is written to a temporary name in the same directory, flushed to disk and renamed over the
  target, so a crash (even kill -9) never leaves a truncated file under its final name. A full disk is one clear
  error naming the folder and the space needed; the previous file of that name is untouched.
- ``save_verified_state``: a training state is written only if every floating tensor of its networks is finite, then
  read back, hashed and recorded in a sidecar ``<iter>.state.sha256`` (hash and size). Only a state with a matching
  sidecar counts as *verified*.
- ``find_resume_state``: the newest state that is verified and loads completely (a file damaged anywhere inside fails
  its hash; states written before sidecars existed are loaded in full and their parameters checked); damaged ones
  are skipped with a warning naming them, so auto-resume falls back to the newest good one.
- ``prune_checkpoints``: keeps the newest ``keep`` verified states (and the model files of their iterations); it never
  counts an unverified state towards ``keep`` and never deletes the newest verified one.
- ``remove_stale_temporaries``: the temporary files a killed writer left behind, removed at start.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CheckpointWriteError",
    "atomic_save",
    "find_resume_state",
    "load_training_state",
    "prune_checkpoints",
    "remove_stale_temporaries",
    "save_verified_state",
    "verify_state",
]

logger = logging.getLogger("gfpgan")
STATE_RE = re.compile(r"^(\d+)\.state$")
TEMP_RE = re.compile(r"^\..+\.tmp$")  # atomic_save's temporary names: .<name>.<random>.tmp
_HASH_CHUNK = 8 << 20


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (disk full, quota, permissions); the message says where and what to do."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.errno = code

    def __str__(self) -> str:
        return self.args[0]


def _tensor_bytes(obj: Any) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, Mapping):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)`` through a temporary file in the same folder, fsynced, then renamed over ``path``.

    Raises CheckpointWriteError (one line: folder, space needed and free, what to do) when the disk or quota is full
    or the folder is not writable; a previous file at ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            need = _tensor_bytes(obj) / 2**20
            free = shutil.disk_usage(path.parent).free / 2**20
            raise CheckpointWriteError(
                e.errno,
                f"{path.parent}: no space left writing {path.name} (needs about {need:.0f} MiB, {free:.0f} MiB free); "
                f"the previous files are intact: free space there (or lower logger.keep_checkpoints) and resume with "
                f"--auto_resume",
            ) from None
        if e.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            raise CheckpointWriteError(
                e.errno, f"{path.parent}: cannot write {path.name} ({e.strerror}); make the folder writable"
            ) from None
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_training_state(path: str | os.PathLike) -> dict:
    """Load a ``<iter>.state`` file (plain tensors and Python containers only: weights_only=True)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise RuntimeError(f"training state {path} could not be read ({type(e).__name__}: {e}).") from e


# ----------------------------------------------------------------------------------------------------------------------
# Verified states


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def nonfinite_tensors(nets: Mapping[str, Mapping[str, torch.Tensor]]) -> list[str]:
    """``net/key`` of every floating tensor with a NaN or Inf in ``{net: state_dict}``."""
    return [
        f"{name}/{key}"
        for name, sd in nets.items()
        for key, t in sd.items()
        if t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]


def save_verified_state(state: dict, path: str | os.PathLike) -> None:
    """Write a training state (with ``state["nets"]``) atomically, then its sidecar (sha256 and size of the file).

    Refuses (RuntimeError) to write a state whose networks hold a non-finite value: such a state must never replace
    a healthy one. The sidecar is written after the state, so a crash in between leaves an unverified state that
    retention and resume treat as such.
    """
    path = Path(path)
    bad = nonfinite_tensors(state["nets"])
    if bad:
        raise RuntimeError(f"{path}: not saved, non-finite parameters in {', '.join(bad[:5])}")
    atomic_save(state, path)
    record = {"sha256": _sha256(path), "size": path.stat().st_size}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{_sidecar(path).name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(record, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, _sidecar(path))


def _recorded(path: Path) -> dict | None:
    try:
        record = json.loads(_sidecar(path).read_text(encoding="utf-8"))
        return record if isinstance(record, dict) and {"sha256", "size"} <= set(record) else None
    except (OSError, ValueError):
        return None


def verify_state(path: str | os.PathLike) -> str | None:
    """None if the state at ``path`` is intact, else why not (one phrase).

    With a sidecar: size and sha256 must match (a file damaged anywhere inside fails). Without one (states written by
    earlier versions, or a crash between the state and its sidecar): the file must load completely and its networks
    be finite.
    """
    path = Path(path)
    record = _recorded(path)
    if record is not None:
        if path.stat().st_size != record["size"]:
            return f"size {path.stat().st_size} bytes, {record['size']} recorded"
        if _sha256(path) != record["sha256"]:
            return "content does not match its recorded sha256 (damaged on disk)"
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        return f"unreadable ({type(e).__name__}: {str(e).splitlines()[0][:120]})"
    nets = state.get("nets") if isinstance(state, dict) else None
    if isinstance(nets, Mapping):
        bad = nonfinite_tensors(nets)
        if bad:
            return f"non-finite parameters ({', '.join(bad[:3])})"
    return None


def _states(states_dir: Path) -> list[tuple[int, Path]]:
    """``(iteration, path)`` of every ``<iter>.state`` in the folder, newest first."""
    if not states_dir.is_dir():
        return []
    return sorted(((int(m.group(1)), p) for p in states_dir.iterdir() if (m := STATE_RE.match(p.name))), reverse=True)


def find_resume_state(states_dir: str | os.PathLike) -> Path | None:
    """The newest ``<iter>.state`` in ``states_dir`` that is intact (``verify_state``), or None.

    Damaged states are skipped with a warning naming each file and what is wrong with it; temporary files are ignored.
    """
    for _, path in _states(Path(states_dir)):
        problem = verify_state(path)
        if problem is None:
            return path
        logger.warning("skipping damaged training state %s: %s", path, problem)
    return None


def prune_checkpoints(exp_root: str | os.PathLike, keep: int | None) -> None:
    """Keep the newest ``keep`` verified training states and the model files of those iterations.

    Verified = a sidecar whose recorded size matches the file (the full hash was checked when it was written).
    Unverified states never count towards ``keep``: those older than the newest verified state are removed with the
    others, newer ones are left alone with a warning (auto-resume skips them). ``keep`` None: keep everything.
    """
    if keep is None:
        return
    exp_root = Path(exp_root)
    states = _states(exp_root / "training_states")
    verified = [(i, p) for i, p in states if (r := _recorded(p)) is not None and r["size"] == p.stat().st_size]
    if not verified:
        return
    kept = {i for i, _ in verified[: max(keep, 1)]}  # never remove the newest verified state
    newest_verified = verified[0][0]
    for iteration, path in states:
        if iteration in kept:
            continue
        if iteration > newest_verified:
            logger.warning("training state %s is not verified (no matching .sha256): kept, not counted", path)
            continue
        path.unlink(missing_ok=True)
        _sidecar(path).unlink(missing_ok=True)
        for model in (exp_root / "models").glob(f"net_*_{iteration}.pth"):
            model.unlink(missing_ok=True)


def remove_stale_temporaries(*folders: str | os.PathLike) -> tuple[int, int]:
    """Delete the temporary files (``.<name>.<random>.tmp``) a killed writer left in ``folders``.

    Returns (number of files, bytes freed). Call it on the main process before anything is written.
    """
    count, size = 0, 0
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if TEMP_RE.match(p.name) and p.is_file():
                size += p.stat().st_size
                p.unlink(missing_ok=True)
                count += 1
    return count, size
