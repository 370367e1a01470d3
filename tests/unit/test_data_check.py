"""The data pre-flight (gfpgan/data/check.py) and the component-file errors (gfpgan/data/components.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from gfpgan.data import check
from gfpgan.data.check import Problem, cache_path, check_dataset_block, check_images
from gfpgan.data.components import load_components
from gfpgan.data.image_io import list_images, open_store, write_lmdb

SIZE = 16
BOX = {"left_eye": [5.0, 7.0, 2.0], "right_eye": [11.0, 7.0, 2.0], "mouth": [8.0, 12.0, 3.0]}


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch) -> Path:
    """Every test gets its own result cache (never the user's ~/.cache)."""
    monkeypatch.setenv("GFPGAN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _face(seed: int, size: int = SIZE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def _good_folder(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i:08d}.png"), _face(i))
    return folder


def _bad_folder(folder: Path) -> Path:
    """A good PNG, a 2-channel (gray + alpha) PNG the reader accepts, and one file of each problem."""
    tifffile = pytest.importorskip("tifffile")
    _good_folder(folder, 1)
    Image.fromarray(_face(1)[:, :, :2].copy(), "LA").save(folder / "gray_alpha.png")
    data = (folder / "00000000.png").read_bytes()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])
    (folder / "empty.png").write_bytes(b"")
    (folder / "garbage.jpg").write_bytes(b"this is not an image at all")
    cv2.imwrite(str(folder / "small.png"), _face(2, SIZE // 2))
    nan = _face(3).astype(np.float32) / 255
    nan[2, 3, 1] = np.nan
    assert cv2.imwrite(str(folder / "nan.tif"), nan)
    five = _face(4).repeat(2, axis=2)[:, :, :5]
    tifffile.imwrite(folder / "five.tif", five, photometric="minisblack", planarconfig="contig")
    return folder


EXPECTED = {
    "truncated.png": "truncated",
    "empty.png": "empty",
    "garbage.jpg": "unreadable",
    "small.png": "size",
    "nan.tif": "nonfinite",
    "five.tif": "channels",
}


@pytest.mark.parametrize("full_decode", [False, True], ids=["headers", "full"])
def test_each_bad_image_is_reported_once(tmp_path, full_decode):
    folder = _bad_folder(tmp_path / "faces")
    problems = check_images(list_images(folder), SIZE, full_decode, workers=2)
    names = [Path(p.file).name for p in problems]
    assert sorted(names) == sorted(EXPECTED), names  # each once; the good and the gray+alpha images not at all
    assert {Path(p.file).name: p.kind for p in problems} == EXPECTED
    by_name = {Path(p.file).name: p for p in problems}
    assert "expected 16 x 16, got 8 x 8" in by_name["small.png"].message
    assert "5 channels" in by_name["five.tif"].message
    for p in problems:
        assert str(p).startswith(str(folder)) and "\n" not in str(p)
    assert check_images(list_images(folder), None, full_decode, 1, use_cache=False) != []  # any size: the rest


def test_clean_folder_is_cached_and_the_cache_follows_the_files(tmp_path, monkeypatch, cache_dir):
    folder = _good_folder(tmp_path / "faces")
    calls = []
    inspect = check._inspect
    monkeypatch.setattr(check, "_inspect", lambda item, *a: calls.append(item.name) or inspect(item, *a))
    paths = list_images(folder)

    assert check_images(paths, SIZE, False, 1) == [] and len(calls) == 3
    assert cache_path(paths, SIZE).is_file() and cache_path(paths, SIZE).parent == cache_dir / "datacheck"
    assert check_images(paths, SIZE, False, 1) == [] and len(calls) == 3  # a hit: nothing read again
    assert check_images(paths, SIZE + 1, False, 1) != [] and len(calls) == 6  # another expected size: another key
    assert check_images(paths, SIZE, True, 1) == [] and len(calls) == 9  # the full decode never trusts the cache

    cv2.imwrite(str(folder / "00000001.png"), _face(9))  # same names, new content and time: checked again
    os.utime(folder / "00000001.png", ns=(1, 1))
    assert check_images(paths, SIZE, False, 1) == [] and len(calls) == 12
    (folder / "00000002.png").write_bytes(b"")
    problems = check_images(paths, SIZE, False, 1)
    assert [(Path(p.file).name, p.kind) for p in problems] == [("00000002.png", "empty")] and len(calls) == 15
    assert check_images(paths, SIZE, False, 1) != []  # problems are never cached


def test_unwritable_cache_is_not_an_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("GFPGAN_CACHE_DIR", str(blocker))  # a file where the cache folder should be
    assert check_images(list_images(_good_folder(tmp_path / "faces")), SIZE, False, 1) == []


def test_lmdb_records(tmp_path):
    import lmdb

    folder = _good_folder(tmp_path / "faces", 2)
    root = tmp_path / "faces.lmdb"
    write_lmdb(list_images(folder), root)
    env = lmdb.open(str(root), map_size=1 << 24)  # a record write_lmdb would refuse: cut short
    with env.begin(write=True) as txn:
        txn.put(b"cut", (folder / "00000000.png").read_bytes()[:100])
    env.close()
    with open(root / "meta_info.txt", "a") as f:
        f.write("cut.png (16,16,3) 1\n")
    store = open_store(str(root), {"type": "lmdb"}, "t")
    for full in (False, True):
        problems = check_images(store, SIZE, full, 1)
        assert [(p.file, p.kind) for p in problems] == [(f"{root}[cut]", "truncated")]


def _ffhq(root: Path, **extra) -> dict:
    return {"type": "FFHQDegradationDataset", "dataroot_gt": str(root), "io_backend": {"type": "disk"},
            "out_size": SIZE, "phase": "train", "skip_bad_images": False, "resize_gt": False, **extra}  # fmt: skip


def test_dataset_block_messages(tmp_path):
    folder = _good_folder(tmp_path / "faces")
    assert check_dataset_block(_ffhq(folder), "datasets.train", False) == []

    (folder / "00000001.png").write_bytes(b"")
    cv2.imwrite(str(folder / "00000002.png"), _face(2, SIZE * 2))
    lines = check_dataset_block(_ffhq(folder), "datasets.train", False)
    assert lines[0] == f"datasets.train.dataroot_gt: {folder / '00000001.png'}: empty file (0 bytes)"
    assert lines[1].endswith("wrong size: expected 16 x 16, got 32 x 32")
    assert lines[2] == (
        f"datasets.train.dataroot_gt ({folder}): 1 bad image(s); fix or remove them, or set "
        "datasets.train.skip_bad_images: true to skip them."
    )
    assert "resize them (scripts/prepare_ffhq.py) or set datasets.train.resize_gt: true." in lines[3]
    assert len(lines) == 4 and all("\n" not in line for line in lines)
    # skip_bad_images covers the empty file, resize_gt the size
    assert check_dataset_block(_ffhq(folder, skip_bad_images=True, resize_gt=True), "datasets.train", True) == []

    missing = check_dataset_block(_ffhq(tmp_path / "nowhere"), "datasets.train", False)
    assert len(missing) == 1 and missing[0].startswith("datasets.train.dataroot_gt:") and "does not exist" in missing[0]
    synthetic = _ffhq(tmp_path / "nowhere", synthetic_faces={"num": 2, "size": SIZE})
    assert check_dataset_block(synthetic, "datasets.train", False) == []  # generated at start


def test_dataset_block_components(tmp_path):
    folder = _good_folder(tmp_path / "faces")
    comp = tmp_path / "components.json"
    spec = _ffhq(folder, crop_components=True, component_path=str(comp))
    comp.write_text(json.dumps({f"{i:08d}": BOX for i in range(3)}))
    assert check_dataset_block(spec, "datasets.train", False) == []
    comp.write_text(json.dumps({"00000000": BOX}))
    (line,) = check_dataset_block(spec, "datasets.train", False)
    assert line.startswith(f"datasets.train.component_path: {comp} has no entry for 2 of 3 image(s)")
    comp.write_text('{"00000000": {"left_eye": [1, 2, 3],\n  "mouth": [1, 2 3]}}')
    (line,) = check_dataset_block(spec, "datasets.train", False)
    assert line.startswith(f"datasets.train.component_path: {comp}: not valid JSON at line 2 column")


def test_dataset_block_paired_lq_is_never_skipped(tmp_path):
    gt, lq = _good_folder(tmp_path / "gt"), _good_folder(tmp_path / "lq")
    spec = {"type": "PairedImageDataset", "dataroot_gt": str(gt), "dataroot_lq": str(lq),
            "io_backend": {"type": "disk"}, "phase": "val", "skip_bad_images": True, "loader": {}}  # fmt: skip
    assert check_dataset_block(spec, "datasets.val", False) == []
    (lq / "00000001.png").write_bytes(b"")
    (gt / "00000002.png").write_bytes(b"")
    lines = check_dataset_block(spec, "datasets.val", False)
    assert lines == [
        f"datasets.val.dataroot_lq: {lq / '00000001.png'}: empty file (0 bytes)",
        f"datasets.val.dataroot_lq ({lq}): 1 bad image(s); fix or remove them and their GT images "
        "(datasets.val.skip_bad_images does not cover LQ images).",
    ]
    missing = dict(spec, dataroot_lq=str(tmp_path / "nowhere"))
    assert check_dataset_block(missing, "datasets.val", False)[0].startswith("datasets.val.dataroot_lq:")


def test_problem_is_one_line():
    assert str(Problem("a.png", "empty", "empty file (0 bytes)")) == "a.png: empty file (0 bytes)"


# ----------------------------------------------------------------------------------------------------------------------
# Component files


def test_component_json_syntax_error_names_line_and_column(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{\n  "a": {"left_eye": [1, 2, 3],\n        "mouth" [1, 2, 3]}\n}\n')
    with pytest.raises(ValueError, match=rf"^{path}: not valid JSON at line 3 column 17 \(Expecting ':' delimiter\)"):
        load_components(path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object of file stem -> components, got list"):
        load_components(path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"right_eye": [1, 2, 3], "mouth": [1, 2, 3]}, r"face 'f7': missing component 'left_eye'"),
        ({**BOX, "mouth": [1, 2]}, r"face 'f7' component 'mouth': expected \[cx, cy, half_len\] \(3 numbers\), got"),
        ({**BOX, "right_eye": "abc"}, r"face 'f7' component 'right_eye': expected .* got 'abc'"),
        ({**BOX, "left_eye": [1, 2, -1]}, r"face 'f7' component 'left_eye': .* half_len > 0"),
        ([1, 2, 3], r"face 'f7': expected a mapping of left_eye, right_eye, mouth, got list"),
    ],
)
def test_component_entry_errors_name_file_face_and_component(tmp_path, entry, message):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"ok": BOX, "f7": entry}))
    with pytest.raises(ValueError, match=rf"^{path}: {message}") as info:
        load_components(path)
    assert "\n" not in str(info.value) and "scripts/prepare_components.py" in str(info.value)


def test_official_pth_entry_errors_name_the_key(tmp_path):
    path = tmp_path / "landmarks.pth"
    good = {k: [np.float64(v) for v in b] for k, b in BOX.items()}
    torch.save({"00000000": good, "00000001": {"mouth": [1.0]}}, path)
    with pytest.raises(ValueError, match=rf"^{path}: face '00000001': missing component 'left_eye'"):
        load_components(path)
