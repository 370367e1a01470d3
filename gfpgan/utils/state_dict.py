"""Read, check and write network weights in the official layouts.

Official generator checkpoints are ``{"params": ..., "params_ema": ...}`` (GFPGANer loads ``params_ema``, falling back
to ``params``); ArcFace is a bare state dict, sometimes with ``module.`` prefixes (DataParallel). Weights and other
downloaded pickles are read with :func:`safe_load` (``torch.load(..., weights_only=True)``): a ``.pth`` is a pickle
and a full unpickle can execute code.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = [
    "CheckpointError",
    "RefusedPickleError",
    "load_weights",
    "read_state_dict",
    "safe_load",
    "save_generator_checkpoint",
    "state_dict_mismatch",
]

_SHOW = 20  # entries listed per category in mismatch messages
# numpy types of the official pickles (FFHQ_eye_mouth_landmarks_512.pth: float64 scalars; BasicSR's
# inception_FFHQ_512.pth: float64 arrays), plus the other plain numeric ones
_NUMPY_TYPES = (
    np.bool_,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.float16,
    np.float32,
    np.float64,
)


class CheckpointError(RuntimeError):
    """A weights file that cannot be read, or whose keys/shapes do not fit the network."""


class RefusedPickleError(CheckpointError, pickle.UnpicklingError):
    """A pickle the weights-only unpickler refuses: a global outside its allow-list (code), or a malformed stream."""


def _numpy_globals() -> list[object]:
    """The allow-list extension for numpy scalars and arrays (reconstructors, dtypes); nothing that runs other code."""
    try:  # numpy 2.x
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    allowed: list[object] = [np.ndarray, np.dtype, *_NUMPY_TYPES]
    allowed += [type(np.dtype(t)) for t in _NUMPY_TYPES]  # numpy >= 1.25: one dtype class each, needed to BUILD one
    for name in ("scalar", "_reconstruct"):
        # files pickled under numpy 1.x name numpy.core.multiarray, under 2.x numpy._core.multiarray
        function = getattr(multiarray, name)
        allowed += [(function, f"numpy.core.multiarray.{name}"), (function, f"numpy._core.multiarray.{name}")]
    return allowed


def _first_reason(error: BaseException) -> str:
    """One line out of torch's multi-line load errors: the unpickler's own complaint when there is one."""
    text = str(error)
    marker = "WeightsUnpickler error:"
    if marker in text:
        # torch goes on to suggest allow-listing the global, which is not advice to follow for an unknown file
        text = text.split(marker, 1)[1].split(" Please use", 1)[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    return f"{type(error).__name__}: {lines[0].split('. ', 1)[0].rstrip('.')[:300]}"  # the first sentence


def safe_load(path: str | os.PathLike, allow_numpy: bool = False) -> object:
    """``torch.load(path, map_location="cpu", weights_only=True)``, with a one-line error naming the file.

    Args:
        path: a file written by ``torch.save`` (``.pth``, ``.pt``, ``.state``, ...).
        allow_numpy: also unpickle numpy scalars and arrays of plain numeric dtypes (the official component
            landmarks and BasicSR's FID statistics hold them); nothing else is added to torch's allow-list.
    Returns:
        The unpickled object, tensors on the CPU.
    Raises:
        RefusedPickleError: (also a ``pickle.UnpicklingError``) the unpickler refused the file; no code from it ran.
        CheckpointError: the file is missing, unreadable, truncated or not a torch file.
    """
    allowed = _numpy_globals() if allow_numpy else []
    try:
        with torch.serialization.safe_globals(allowed), warnings.catch_warnings():
            # a plain pickle of another protocol: torch warns before refusing it; the refusal is reported below
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        kinds = "tensors, plain Python values and numpy numbers/arrays" if allow_numpy else "tensors and plain values"
        raise RefusedPickleError(
            f"{path} was not loaded: the weights-only unpickler refused it ({_first_reason(e)}). Only {kinds} are "
            "read, since unpickling anything else can run code; is it the right file?"
        ) from e
    except OSError as e:
        raise CheckpointError(f"Cannot read {path} ({_first_reason(e)}).") from e
    except Exception as e:
        raise CheckpointError(
            f"Cannot read {path} with torch.load(weights_only=True) ({_first_reason(e)}). Is it a complete file "
            "written by torch.save?"
        ) from e


def _read_file(path: Path) -> object:
    if not path.is_file():
        raise CheckpointError(f"Weights file not found: {path}")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as e:
            raise CheckpointError(
                f"{path} is a .safetensors file but the 'safetensors' package is not installed: pip install safetensors"
            ) from e
        try:
            return load_file(str(path), device="cpu")
        except Exception as e:
            raise CheckpointError(f"Cannot read {path} as safetensors: {type(e).__name__}: {e}") from e
    return safe_load(path)


def read_state_dict(path: str | os.PathLike, param_key: str | None = "auto") -> dict[str, torch.Tensor]:
    """Read a state dict from a ``.pth``/``.pt``/``.safetensors`` file on the CPU.

    Args:
        path: the weights file.
        param_key: ``"auto"`` = ``params_ema``, else ``params``, else the file itself as a raw state dict; a key name
            (e.g. ``"params"``) = that entry (error if absent); ``None`` = the file is a raw state dict.
    Returns:
        ``{name: tensor}`` with any leading ``module.`` (DataParallel/DDP) stripped.
    """
    path = Path(path)
    obj = _read_file(path)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict.")
    if param_key == "auto":
        for key in ("params_ema", "params"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    elif param_key is not None:
        if param_key not in obj:
            raise CheckpointError(
                f"{path} has no entry {param_key!r}; top-level keys: {_preview(list(obj))}. "
                "Use param_key='auto' or the right key."
            )
        obj = obj[param_key]
    state = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor; this is not a plain state dict "
                f"(top-level keys: {_preview(list(obj))}). Pass param_key='params_ema' / 'params'."
            )
        state[key[len("module.") :] if key.startswith("module.") else key] = value
    return state


def _preview(keys: list[str]) -> str:
    shown = ", ".join(map(str, keys[:_SHOW]))
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > _SHOW else "")


def state_dict_mismatch(net: nn.Module, state: Mapping[str, torch.Tensor]) -> tuple[list[str], list[str], list[str]]:
    """Return (missing, unexpected, shape mismatches) lines describing how ``state`` differs from ``net``."""
    expected = net.state_dict()
    missing = [f"{k} {tuple(v.shape)}" for k, v in expected.items() if k not in state]
    unexpected = [f"{k} {tuple(v.shape)}" for k, v in state.items() if k not in expected]
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs network {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    return missing, unexpected, shapes


def load_weights(
    net: nn.Module,
    path_or_state_dict: str | os.PathLike | Mapping[str, torch.Tensor],
    param_key: str | None = "auto",
    strict: bool = True,
) -> nn.Module:
    """Load weights into ``net`` (in place) and return it.

    With ``strict`` any missing/unexpected key or shape mismatch raises CheckpointError listing the first entries of
    each kind with shapes, their counts and the file. Without ``strict`` matching keys are loaded, unknown keys
    ignored, but shape mismatches still raise.
    """
    if isinstance(path_or_state_dict, Mapping):
        source = "the given state dict"
        state = {(k[7:] if k.startswith("module.") else k): v for k, v in path_or_state_dict.items()}
    else:
        source = str(path_or_state_dict)
        state = read_state_dict(path_or_state_dict, param_key)
    missing, unexpected, shapes = state_dict_mismatch(net, state)
    if shapes or (strict and (missing or unexpected)):
        parts = [f"Weights from {source} do not fit {type(net).__name__}:"]
        for title, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatches", shapes)):
            if items and (strict or title == "shape mismatches"):
                shown = "\n    ".join(items[:_SHOW])
                more = f"\n    ... and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
                parts.append(f"  {len(items)} {title}:\n    {shown}{more}")
        parts.append(
            "  Check the arch type and its options (out_size, channel_multiplier, narrow, sft_half, ...) against the "
            "ones the weights were trained with."
        )
        raise CheckpointError("\n".join(parts))
    net.load_state_dict(state, strict=strict)
    return net


def save_generator_checkpoint(
    path: str | os.PathLike,
    params: Mapping[str, torch.Tensor] | None,
    params_ema: Mapping[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``{"params": ..., "params_ema": ...}`` (the official generator layout) atomically: a temporary file in the
    same folder, then ``os.replace``. Entries given as None are left out. Tensors are moved to the CPU."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {}
    for key, sd in (("params", params), ("params_ema", params_ema)):
        if sd is not None:
            payload[key] = {k: v.detach().cpu() for k, v in sd.items()}
    if not payload:
        raise ValueError("save_generator_checkpoint: give params and/or params_ema")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
