"""Facial component (eyes, mouth) locations for the component discriminators.

A component is stored as ``[cx, cy, half_len]`` in the pixel coordinates of the training image (left_eye = the eye on
the image's left, i.e. FFHQ landmarks 36-41). Two file layouts are read:

- the official ``FFHQ_eye_mouth_landmarks_512.pth``: a pickled dict ``'%08d' -> {'left_eye': [cx, cy, half_len],
  'right_eye': ..., 'mouth': ...}`` with numpy float64 scalars, keyed by the *index* of the FFHQ file name
  (``00000000.png`` ...). It is loaded with :func:`gfpgan.utils.state_dict.safe_load` allowing only numpy's
  scalar reconstruction (no arbitrary unpickling), and re-keyed by file stem (``'00000042'``);
- our JSON: ``{"<file stem>": {"left_eye": [cx, cy, half_len], ...}}``.

Boxes are looked up by file stem, never by dataset position.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from gfpgan.utils.files import atomic_write
from gfpgan.utils.state_dict import safe_load

__all__ = ["COMPONENTS", "component_boxes", "components_from_68_landmarks", "load_components", "save_components"]

COMPONENTS = ("left_eye", "right_eye", "mouth")
Components = dict[str, dict[str, tuple[float, float, float]]]


_FIX = "fix the entry or regenerate the file with scripts/prepare_components.py"


def _clean(entry: object, path: str, key: object) -> dict[str, tuple[float, float, float]]:
    """One face's ``{left_eye, right_eye, mouth: [cx, cy, half_len]}`` as float tuples; a missing or malformed
    component raises ValueError naming the file, the face key and the component key."""
    where = f"{path}: face {str(key)!r}"
    if not isinstance(entry, Mapping):
        raise ValueError(
            f"{where}: expected a mapping of left_eye, right_eye, mouth, got {type(entry).__name__}; {_FIX}."
        )
    out = {}
    for part in COMPONENTS:
        if part not in entry:
            raise ValueError(
                f"{where}: missing component {part!r} (expected left_eye, right_eye, mouth as "
                f"[cx, cy, half_len]); {_FIX}."
            )
        value = entry[part]
        try:
            array = np.asarray(value, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            array = None
        if array is None or array.size != 3:
            raise ValueError(
                f"{where} component {part!r}: expected [cx, cy, half_len] (3 numbers), got {_short(value)}; {_FIX}."
            )
        if not np.isfinite(array).all() or array[2] <= 0:
            raise ValueError(
                f"{where} component {part!r}: {array.tolist()} needs finite numbers and half_len > 0; {_FIX}."
            )
        out[part] = (float(array[0]), float(array[1]), float(array[2]))
    return out


def _short(value: object, limit: int = 60) -> str:
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_json(path: str) -> Mapping:
    """The component JSON as a dict; a syntax error names the file, line and column."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{path}: not valid JSON at line {e.lineno} column {e.colno} ({e.msg}); fix the file or "
            "regenerate it with scripts/prepare_components.py."
        ) from e
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{path}: not a UTF-8 text file ({e.reason} at byte {e.start}); regenerate it with "
            "scripts/prepare_components.py."
        ) from e
    if not isinstance(raw, Mapping):
        raise ValueError(
            f"{path}: expected a JSON object of file stem -> components, got {type(raw).__name__}; "
            "regenerate it with scripts/prepare_components.py."
        )
    return raw


def load_components(path: str | os.PathLike, stems: list[str] | None = None) -> Components:
    """Load component locations keyed by file stem, from the official ``.pth`` or our ``.json``.

    Args:
        path: the component file.
        stems: for the ``.pth`` layout, the file stems the ``'%08d'`` keys refer to. ``None`` means FFHQ's own
            naming (``'%08d'`` is the stem itself, e.g. ``00000042.png``), which is what the official file indexes.

    Raises ValueError naming the file (and the line and column of a JSON syntax error, or the face key and component
    key of a missing or malformed entry).
    """
    path = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"component_path: {path} does not exist. Make one with scripts/prepare_components.py "
            "or download FFHQ_eye_mouth_landmarks_512.pth."
        )
    if path.endswith(".json"):
        return {str(k): _clean(v, path, k) for k, v in _read_json(path).items()}
    raw = safe_load(path, allow_numpy=True)
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path}: expected a dict '%08d' -> components, got {type(raw).__name__}")
    out = {}
    for key, value in raw.items():
        stem = str(key)
        if stems is not None:
            try:
                index = int(key)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{path}: face key {key!r} is not an image index ('%08d'); pass stems=None or use "
                    "a JSON keyed by file stem."
                ) from None
            if index >= len(stems):
                continue
            stem = stems[index]
        out[stem] = _clean(value, path, key)
    return out


def save_components(components: Mapping[str, Mapping[str, object]], path: str | os.PathLike) -> None:
    """Write components as our JSON (keyed by file stem), atomically."""
    data = {k: {p: [round(float(x), 4) for x in v[p]] for p in COMPONENTS} for k, v in sorted(components.items())}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data, indent=0))


def components_from_68_landmarks(points: np.ndarray, scale: float = 1.0, min_half_len: float = 16.0) -> dict:
    """The official rule (GFPGAN ``parse_landmark.py``) from 68-point landmarks (68, 2) in source pixels.

    Points are scaled by ``scale`` (0.5 for FFHQ 1024 -> 512); left eye = points 36-41, right eye 42-47, mouth 48-67;
    centre = mean, half_len = max(max(range_x, range_y) / 2, min_half_len).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(68, 2) * scale
    out = {}
    for part, sl in (("left_eye", slice(36, 42)), ("right_eye", slice(42, 48)), ("mouth", slice(48, 68))):
        p = pts[sl]
        centre = p.mean(axis=0)
        extent = p.max(axis=0) - p.min(axis=0)
        out[part] = (float(centre[0]), float(centre[1]), float(max(extent.max() / 2, min_half_len)))
    return out


def component_boxes(
    entry: Mapping[str, tuple[float, float, float]], flipped: bool, width: int, eye_enlarge_ratio: float = 1.0
) -> dict[str, np.ndarray]:
    """Boxes ``(x1, y1, x2, y2)`` float32 of one sample: ``[c - h + 1, c + h]`` with h x eye_enlarge_ratio for eyes.

    On a horizontal flip the eyes swap roles and x becomes ``width - x`` (the reference convention). ``entry`` is
    never modified. These are the dataset's ``loc_*`` entries; ``gfpgan.losses.component.roi_align_boxes`` turns a
    batch of them into roi_align's ``[batch_index, x1, y1, x2, y2]`` rows.
    """
    parts = {p: entry[p] for p in COMPONENTS}
    if flipped:
        parts = {
            "left_eye": parts["right_eye"],
            "right_eye": parts["left_eye"],
            "mouth": parts["mouth"],
        }
        parts = {p: (width - v[0], v[1], v[2]) for p, v in parts.items()}
    boxes = {}
    for part, (cx, cy, half) in parts.items():
        if "eye" in part:
            half = half * eye_enlarge_ratio
        boxes[part] = np.array([cx - half + 1, cy - half + 1, cx + half, cy + half], dtype=np.float32)
    return boxes
