"""scripts/prepare_components.py: FFHQ metadata and user 68-point landmarks -> the components JSON the dataset reads."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from gfpgan.data.components import load_components

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "prepare_components.py"


def _run(*args: str) -> None:
    spec = importlib.util.spec_from_file_location("prepare_components", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(list(args))


def _landmarks(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = rng.uniform(150, 350, (68, 2))
    pts[36:42] = [200, 220] + rng.uniform(-20, 20, (6, 2))  # left eye, ~40 px wide
    pts[42:48] = [310, 220] + rng.uniform(-4, 4, (6, 2))  # right eye: tiny, hits the 16 px floor
    return pts


def test_ffhq_json_and_landmarks_json(tmp_path):
    pts = _landmarks(0)
    ffhq = {"7": {"image": {"face_landmarks": (pts * 2).tolist()}}}  # 1024 px coordinates
    (tmp_path / "ffhq.json").write_text(json.dumps(ffhq))
    _run("--ffhq-json", str(tmp_path / "ffhq.json"), "--out", str(tmp_path / "a.json"))
    (tmp_path / "lm.json").write_text(json.dumps({"face_a": pts.tolist()}))
    _run("--landmarks-json", str(tmp_path / "lm.json"), "--out", str(tmp_path / "b.json"))

    a, b = load_components(str(tmp_path / "a.json")), load_components(str(tmp_path / "b.json"))
    assert set(a) == {"00000007"} and set(b) == {"face_a"}
    for entry in (a["00000007"], b["face_a"]):
        cx, cy, half = entry["left_eye"]
        assert np.allclose([cx, cy], pts[36:42].mean(0), atol=1e-3)
        assert abs(half - np.ptp(pts[36:42], axis=0).max() / 2) < 1e-3
        assert entry["right_eye"][2] == 16.0  # the official floor


def test_landmarks_json_floor_scales_with_image_width_and_bad_entries_fail(tmp_path):
    (tmp_path / "lm.json").write_text(json.dumps({"x": (_landmarks(1) / 2).tolist()}))
    _run("--landmarks-json", str(tmp_path / "lm.json"), "--out", str(tmp_path / "c.json"), "--image-width", "256")
    assert load_components(str(tmp_path / "c.json"))["x"]["right_eye"][2] == 8.0

    (tmp_path / "bad.json").write_text(json.dumps({"y": [[1, 2]] * 10}))
    with pytest.raises(SystemExit, match="'y' has shape \\[10, 2\\], expected 68"):
        _run("--landmarks-json", str(tmp_path / "bad.json"), "--out", str(tmp_path / "d.json"))
    assert not (tmp_path / "d.json").exists()
