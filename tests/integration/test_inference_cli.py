"""gfpgan-infer end to end on a folder of aligned faces with a checkpoint of a random tiny GFPGANv1Clean, plus the
error paths (unreadable file, missing weights)."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from tiny_models import tiny_clean

from gfpgan.cli.inference import main
from gfpgan.utils.state_dict import save_generator_checkpoint

S = 16


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No weights anywhere and no downloads: empty cache, no offline dir, cwd without experiments/."""
    monkeypatch.setenv("GFPGAN_OFFLINE", "1")
    monkeypatch.setenv("GFPGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GFPGAN_WEIGHTS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    net = tiny_clean(S, noise_strength=0.5)  # noise matters: checks the seeded default
    return save_generator_checkpoint(tmp_path / "tiny.pth", params=net.state_dict(), params_ema=net.state_dict())


@pytest.fixture
def inputs(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(folder / "a.png"), rng.integers(0, 256, (S, S, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "b.jpg"), rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))  # resized to S
    cv2.imwrite(str(folder / "c.png"), rng.integers(0, 256, (S, S), dtype=np.uint8))  # gray
    (folder / "notes.txt").write_text("not an image; ignored")
    return folder


def test_aligned_folder_end_to_end(tmp_path, offline, checkpoint, inputs, caplog):
    out = tmp_path / "out"
    (inputs / "broken.png").write_bytes(b"\x89PNG but not really")
    argv = ["-i", str(inputs), "-o", str(out), "--model-path", str(checkpoint), "--aligned", "--device", "cpu"]
    with caplog.at_level(logging.INFO):
        rc = main([*argv, "--batch-size", "2", "--suffix", "gfp"])
    assert rc == 1  # broken.png failed, the others were processed
    assert any("broken.png" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    for stem in ("a", "b", "c"):
        crop = cv2.imread(str(out / "cropped_faces" / f"{stem}_00.png"), cv2.IMREAD_UNCHANGED)
        face = cv2.imread(str(out / "restored_faces" / f"{stem}_00_gfp.png"), cv2.IMREAD_UNCHANGED)
        cmp = cv2.imread(str(out / "cmp" / f"{stem}_00.png"), cv2.IMREAD_UNCHANGED)
        assert crop.shape == face.shape == (S, S, 3) and cmp.shape == (S, 2 * S, 3)
        assert np.array_equal(cmp[:, S:], face)
    assert not (out / "restored_imgs").exists()  # aligned inputs are not pasted back
    gray = cv2.imread(str(out / "restored_faces" / "c_00_gfp.png"))
    assert np.array_equal(gray[:, :, 0], gray[:, :, 1])

    # batch size and repeated runs give the same files (seeded noise); --weight 0 returns the input crop
    (inputs / "broken.png").unlink()
    out2 = tmp_path / "out2"
    assert main([*argv[:3], str(out2), *argv[4:], "--batch-size", "1", "--suffix", "gfp"]) == 0
    for stem in ("a", "b", "c"):
        a = cv2.imread(str(out / "restored_faces" / f"{stem}_00_gfp.png")).astype(int)
        b = cv2.imread(str(out2 / "restored_faces" / f"{stem}_00_gfp.png")).astype(int)
        assert np.abs(a - b).max() <= 1
    out3 = tmp_path / "out3"
    assert main([*argv[:3], str(out3), *argv[4:], "--weight", "0"]) == 0
    src = cv2.imread(str(inputs / "a.png"))
    assert np.array_equal(cv2.imread(str(out3 / "restored_faces" / "a_00.png")), src)


def test_missing_generator_weights_name_file_url_and_folders(tmp_path, offline, inputs, caplog):
    with caplog.at_level(logging.ERROR):
        rc = main(["-i", str(inputs), "-o", str(tmp_path / "out"), "-v", "1.4", "--device", "cpu"])
    assert rc == 2
    message = "\n".join(r.getMessage() for r in caplog.records)
    assert "GFPGANv1.4.pth" in message
    assert "https://github.com/TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.4.pth" in message
    assert "experiments/pretrained_models" in message and str(tmp_path / "cache") in message


def test_missing_detector_weights_stop_whole_image_mode(tmp_path, offline, checkpoint, inputs, caplog):
    with caplog.at_level(logging.ERROR):
        rc = main(["-i", str(inputs / "a.png"), "-o", str(tmp_path / "out"), "--model-path", str(checkpoint)])
    assert rc == 2
    assert "detection_Resnet50_Final.pth" in "\n".join(r.getMessage() for r in caplog.records)


def test_bad_input_path(tmp_path, caplog):
    with caplog.at_level(logging.ERROR):
        assert main(["-i", str(tmp_path / "nope"), "-o", str(tmp_path / "out")]) == 2
    assert "nope" in caplog.text
