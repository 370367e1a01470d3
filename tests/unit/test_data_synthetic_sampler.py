"""Synthetic faces (deterministic, components inside the image, race-safe generation) and EnlargedSampler."""

import json
import math
import multiprocessing as mp

import cv2
import numpy as np
import pytest
import torch

from gfpgan.data import EnlargedSampler, ensure_synthetic_faces, make_synthetic_faces
from gfpgan.data.components import load_components
from gfpgan.data.synthetic import render_face


def test_synthetic_faces_deterministic_per_seed(tmp_path):
    a = make_synthetic_faces(tmp_path / "a", 3, 32, seed=1)
    b = make_synthetic_faces(tmp_path / "b", 3, 32, seed=1)
    c = make_synthetic_faces(tmp_path / "c", 3, 32, seed=2)
    assert a == b and a != c
    for name in ("00000000.png", "00000002.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes()
    assert load_components(tmp_path / "a" / "components.json") == a
    img = cv2.imread(str(tmp_path / "a" / "00000001.png"))
    assert img.shape == (32, 32, 3) and img.std() > 10  # not blank
    with pytest.raises(ValueError, match="power of two"):
        make_synthetic_faces(tmp_path / "d", 1, 48)


@pytest.mark.parametrize("size", [16, 64, 256])
def test_synthetic_components_inside_image_and_on_features(size):
    for i in range(4):
        img, comps = render_face(np.random.default_rng([0, i]), size)
        assert img.shape == (size, size, 3) and img.dtype == np.uint8
        le, re, mouth = comps["left_eye"], comps["right_eye"], comps["mouth"]
        assert le[0] < size / 2 < re[0] and le[1] < mouth[1]  # image-left eye first, mouth below
        for cx, cy, half in comps.values():
            assert half >= 16 * size / 512
            assert 0 <= cx - half and cx + half <= size and 0 <= cy - half and cy + half <= size
        if size >= 64:  # the eye box holds a high-contrast eye (sclera, iris, pupil), the cheek below it does not
            gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(float)
            for cx, cy, half in (le, re):
                x, y, h = int(round(cx)), int(round(cy)), max(int(half * 0.6), 2)
                eye = gray[y - h // 2 : y + h // 2 + 1, x - h : x + h + 1]
                cheek = gray[y + int(0.12 * size) - h // 2 : y + int(0.12 * size) + h // 2 + 1, x - h : x + h + 1]
                assert eye.std() > 2 * cheek.std() and eye.max() - eye.min() > 60


def _worker(args):
    root, seed = args
    ensure_synthetic_faces(root, 4, 16, seed)
    return sorted(p.name for p in __import__("pathlib").Path(root).iterdir())


def test_ensure_synthetic_faces_complete_incomplete_and_concurrent(tmp_path):
    root = tmp_path / "faces"
    with mp.get_context("fork").Pool(2) as pool:
        listings = pool.map(_worker, [(str(root), 5)] * 2)
    assert listings[0] == listings[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces"]  # no temporary folder left behind
    first = (root / "00000001.png").read_bytes()
    (root / "00000001.png").unlink()  # incomplete -> completed with identical content
    ensure_synthetic_faces(root, 4, 16, 5)
    assert (root / "00000001.png").read_bytes() == first
    before = (root / "components.json").stat().st_mtime_ns
    ensure_synthetic_faces(root, 4, 16, 5)  # complete -> untouched
    assert (root / "components.json").stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="asked for"):
        ensure_synthetic_faces(root, 4, 16, 6)
    assert json.loads((root / "synthetic.json").read_text())["num"] == 4


def _basicsr_partition(size, world, rank, ratio, epoch):
    """BasicSR EnlargedSampler, written from its description (randperm seeded by the epoch only)."""
    num_samples = math.ceil(size * ratio / world)
    total = num_samples * world
    g = torch.Generator()
    g.manual_seed(epoch)
    perm = torch.randperm(total, generator=g).tolist()
    return [v % size for v in perm][rank:total:world]


@pytest.mark.parametrize("size,world,ratio", [(10, 1, 1), (10, 3, 1), (7, 2, 3)])
def test_sampler_partition_matches_basicsr_and_covers(size, world, ratio):
    for epoch in (0, 4):
        per_rank = []
        for rank in range(world):
            s = EnlargedSampler(size, world, rank, ratio, seed=0)
            s.set_epoch(epoch)
            items = list(s)
            assert len(s) == len(items) == math.ceil(size * ratio / world)
            assert all(e == epoch for _, e in items)
            idx = [i for i, _ in items]
            assert idx == _basicsr_partition(size, world, rank, ratio, epoch)
            per_rank += idx
        counts = np.bincount(per_rank, minlength=size)
        assert counts.min() >= ratio and counts.sum() == math.ceil(size * ratio / world) * world
    # other seeds shuffle differently, deterministically
    a, b = EnlargedSampler(50, seed=1), EnlargedSampler(50, seed=1)
    assert list(a) == list(b) and list(a) != list(EnlargedSampler(50, seed=0))
    assert [i for i, _ in EnlargedSampler(5, shuffle=False)] == [0, 1, 2, 3, 4]


def test_sampler_resume_mid_epoch():
    s = EnlargedSampler(20, 2, 1, ratio=2, seed=3)
    s.set_epoch(5)
    full = list(s)
    s.set_epoch(5, start=7)
    assert list(s) == full[7:]
    with pytest.raises(ValueError, match="start"):
        s.set_epoch(5, start=100)
    with pytest.raises(ValueError, match="rank"):
        EnlargedSampler(20, 2, 2)
