"""Read, check and write network weights in the official layouts.

Official generator checkpoints are ``{"params": ..., "params_ema": ...}`` (GFPGANer loads ``params_ema``, falling back
to ``params``); ArcFace is a bare state dict, sometimes with ``module.`` prefixes (DataParallel). Files are always read
with ``torch.load(..., weights_only=True)``: a ``.pth`` is a pickle and a full unpickle can execute code.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

__all__ = ["CheckpointError", "load_weights", "read_state_dict", "save_generator_checkpoint", "state_dict_mismatch"]

_SHOW = 20  # entries listed per category in mismatch messages


class CheckpointError(RuntimeError):
    """A weights file that cannot be read, or whose keys/shapes do not fit the network."""


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
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CheckpointError(
            f"Cannot read {path} as a PyTorch checkpoint (loaded with weights_only=True): {type(e).__name__}: "
            f"{first_line[:300]}. Is it a complete .pth/.safetensors weights file?"
        ) from e


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
