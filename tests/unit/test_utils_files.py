"""Race-safe writes (gfpgan.utils.files): no half-written file or folder is ever visible, no temporary is left."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gfpgan.utils.files import atomic_imwrite, atomic_write, publish_dir


def test_atomic_write_text_bytes_and_images(tmp_path):
    atomic_write(tmp_path / "a.json", '{"x": 1}')
    atomic_write(tmp_path / "b.bin", b"\x00\x01")
    img = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    atomic_imwrite(tmp_path / "c.png", img)
    assert (tmp_path / "a.json").read_text() == '{"x": 1}' and (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "c.png")), img)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.bin", "c.png"]
    with pytest.raises(OSError, match=r"c\.nosuchformat"):  # cv2 cannot write it: an error, and no temporary left
        atomic_imwrite(tmp_path / "c.nosuchformat", img)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.bin", "c.png"]


def test_publish_dir_keeps_a_concurrent_winner(tmp_path):
    out = tmp_path / "sub" / "set"

    def build(folder):
        folder.mkdir()
        (folder / "mine.txt").write_text("mine")

    assert publish_dir(out, build) == out and (out / "mine.txt").is_file()

    def build_late(folder):  # another process published `out` while this one was building
        build(folder)
        (folder / "late.txt").write_text("late")

    publish_dir(out, build_late)
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]  # the winner's folder, untouched
    with pytest.raises(OSError):  # something in the way that is not a published folder
        publish_dir(out, build_late, published=lambda folder: (folder / "late.txt").is_file())
    assert sorted(p.name for p in out.parent.iterdir()) == ["set"]  # no temporary folders left


def test_publish_dir_failure_leaves_nothing(tmp_path):
    def build(folder):
        folder.mkdir()
        raise RuntimeError("build failed")

    with pytest.raises(RuntimeError, match="build failed"):
        publish_dir(tmp_path / "set", build)
    assert list(tmp_path.iterdir()) == []
