"""gfpgan.demo without a browser: the restoration function, the restorer cache, the request handler and the
missing-weights message run without Gradio (tiny random generators; detection replaced by known landmarks). Only
building the page needs Gradio (skipped without it); tests/browser/test_demo.py drives the real page."""

from __future__ import annotations

import builtins
import importlib.util

import cv2
import numpy as np
import pytest
import torch
from tiny_models import tiny_clean

from gfpgan import demo
from gfpgan.data.synthetic import render_face
from gfpgan.inference import VERSIONS, FaceRestorer, face_template
from gfpgan.upsample import ALIASES, KNOWN_MODELS
from gfpgan.utils.weights import KNOWN_WEIGHTS, missing_hint

FACE = 16  # the tiny generator's face size


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No weights anywhere: an empty $GFPGAN_WEIGHTS_DIR, cache and working directory; nothing is downloaded."""
    for name in ("weights", "cache", "cwd"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("GFPGAN_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("GFPGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GFPGAN_OFFLINE", "1")
    monkeypatch.chdir(tmp_path / "cwd")
    return tmp_path / "weights"


@pytest.fixture
def cache(tmp_path, offline):
    path = tmp_path / "tiny.pth"
    torch.save({"params_ema": tiny_clean(FACE, seed=0).state_dict()}, path)
    return demo.RestorerCache(model_path=path, device="cpu", use_parse=False)


@pytest.fixture
def photo():
    """A 64 px synthetic face, RGB uint8, FFHQ-aligned (so the template's landmarks are its landmarks)."""
    bgr, _ = render_face(np.random.default_rng([0, 0]), 64)
    return np.ascontiguousarray(bgr[:, :, ::-1])


@pytest.fixture
def known_landmarks(monkeypatch):
    """Detection replaced by the FFHQ template of a 64 px image (one face), so whole photos run without RetinaFace."""
    monkeypatch.setattr(FaceRestorer, "detect_landmarks", lambda self, img, only_center_face=False: [face_template(64)])


def test_choices_match_the_cli():
    assert {v: name for v, (name, _, _) in VERSIONS.items()} == demo.OFFICIAL_VERSIONS
    assert set(demo.BG_UPSAMPLERS) - {"none"} <= set(KNOWN_MODELS) | set(ALIASES)


def test_restore_aligned_face(cache, photo):
    assert cache.versions == [demo.CUSTOM_VERSION, "1", "1.2", "1.3", "1.4"]
    assert cache.default_version == demo.CUSTOM_VERSION
    result = demo.restore(photo, demo.CUSTOM_VERSION, 3, "realesrgan", 1.0, cache, aligned=True)
    # aligned: no detection, no paste-back, so neither the scale nor the background (nor its weights) is used
    assert result.image.shape == (FACE, FACE, 3) and result.image.dtype == np.uint8
    assert len(result.faces) == 1 and result.faces[0][0].shape == (FACE, FACE, 3)
    assert result.device == "cpu" and "aligned" in result.description
    # weight 0 gives back the (resized, RGB) input: the channel order survives the round trip
    same = demo.restore(photo, demo.CUSTOM_VERSION, 2, "none", 0.0, cache, aligned=True)
    np.testing.assert_allclose(same.image, cv2.resize(photo, (FACE, FACE)), atol=1)
    # gray and RGBA uploads are accepted
    gray = demo.restore(photo[:, :, 0], demo.CUSTOM_VERSION, 2, "none", 1.0, cache, aligned=True)
    rgba = demo.restore(np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)]), demo.CUSTOM_VERSION, 2, "none",
                        1.0, cache, aligned=True)  # fmt: skip
    assert gray.image.shape == rgba.image.shape == (FACE, FACE, 3)


def test_restore_whole_photo(cache, photo, known_landmarks):
    result = demo.restore(photo, demo.CUSTOM_VERSION, 2, "none", 1.0, cache)
    assert result.image.shape == (128, 128, 3) and len(result.faces) == 1
    assert "x2" in result.description and "background none" in result.description
    # weight 0 pastes the input crops back: the result is the Lanczos-upscaled input up to the crop's resampling
    plain = demo.restore(photo, demo.CUSTOM_VERSION, 2, "none", 0.0, cache)
    lanczos = cv2.resize(photo, (128, 128), interpolation=cv2.INTER_LANCZOS4).astype(float)
    assert np.abs(plain.image - lanczos).mean() < np.abs(result.image - lanczos).mean()


def test_restorer_cache_shares_generators(cache):
    a = cache.get(demo.CUSTOM_VERSION, 2, "none")
    assert cache.get(demo.CUSTOM_VERSION, 2.0, "none") is a
    b = cache.get(demo.CUSTOM_VERSION, 3, "none")
    assert b is not a and b.net is a.net and b.upscale == 3
    for scale in (1, 1.5, 2.5, 4):
        cache.get(demo.CUSTOM_VERSION, scale, "none")
    assert len(cache._restorers) == cache.max_restorers


def test_bad_requests(cache, photo):
    with pytest.raises(demo.DemoError, match="upload a photo"):
        demo.restore(None, demo.CUSTOM_VERSION, 2, "none", 1.0, cache)
    with pytest.raises(demo.DemoError, match="weight"):
        demo.restore(photo, demo.CUSTOM_VERSION, 2, "none", 1.5, cache)
    with pytest.raises(demo.DemoError, match="upscale"):
        demo.restore(photo, demo.CUSTOM_VERSION, 8, "none", 1.0, cache)
    with pytest.raises(demo.DemoError, match="unknown version"):
        demo.restore(photo, "2.0", 2, "none", 1.0, cache)
    with pytest.raises(demo.DemoError, match="unknown background"):
        demo.restore(photo, demo.CUSTOM_VERSION, 2, "bicubic", 1.0, cache)


def test_run_request_writes_the_png(cache, photo, known_landmarks, tmp_path):
    (before, after), path, gallery, status = demo.run_request(
        photo, demo.CUSTOM_VERSION, 2, "none", 1.0, False, cache, tmp_path
    )
    assert before.shape == after.shape == (128, 128, 3)
    png = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(png[:, :, ::-1], after)  # written BGR, shown RGB
    assert len(gallery) == 1 and gallery[0][0].shape == (FACE, 2 * FACE, 3)
    assert status.startswith("1 face found and restored; 128x128 px in ") and "on cpu" in status
    # a second request never overwrites the first one's file
    _, path2, _, _ = demo.run_request(photo, demo.CUSTOM_VERSION, 2, "none", 1.0, False, cache, tmp_path)
    assert path2 != path


def test_run_request_reports_missing_weights(cache, photo, offline, tmp_path):
    # the detector of a whole photo, and an official generator: the message names the file and the folder
    pair, path, gallery, status = demo.run_request(photo, demo.CUSTOM_VERSION, 2, "none", 1.0, False, cache, tmp_path)
    assert pair is None and path is None and gallery == []
    assert status.startswith("**Error:**") and missing_hint(KNOWN_WEIGHTS["detection_Resnet50_Final"]) in status
    *_, status = demo.run_request(photo, "1.4", 2, "none", 1.0, True, cache, tmp_path)
    assert missing_hint(KNOWN_WEIGHTS["GFPGANv1.4"]) in status and str(offline) in status
    *_, status = demo.run_request(None, "1.4", 2, "none", 1.0, True, cache, tmp_path)
    assert status == "**Error:** upload a photo first."


def test_missing_weights_message(cache, offline):
    message = demo.missing_weights_message(cache)
    names = ["GFPGANv1", "GFPGANCleanv1-NoCE-C2", "GFPGANv1.3", "GFPGANv1.4", "detection_Resnet50_Final",
             "parsing_parsenet", "RealESRGAN_x2plus"]  # fmt: skip
    names.remove("parsing_parsenet")  # the cache pastes with a square mask: the parser is not needed
    assert [entry.filename for entry, _ in demo.missing_weights(cache)] == [KNOWN_WEIGHTS[n].filename for n in names]
    for name in names:
        assert missing_hint(KNOWN_WEIGHTS[name]) in message
    assert "GFPGAN_OFFLINE=1" in message
    assert demo._default_needs_missing(cache)  # the detector of the default whole-photo mode
    # files found locally are not listed; the markdown form lists the same files
    for name in names[:4]:
        (offline / KNOWN_WEIGHTS[name].filename).write_bytes(b"")
    markdown = demo.missing_weights_message(cache, markdown=True)
    assert "GFPGANv1.4.pth" not in markdown and "`detection_Resnet50_Final.pth`" in markdown
    for name in names[4:]:
        (offline / KNOWN_WEIGHTS[name].filename).write_bytes(b"")
    assert demo.missing_weights_message(cache) == ""
    assert not demo._default_needs_missing(cache)


def test_main_without_gradio_says_what_to_install(monkeypatch, capsys):
    real_import = builtins.__import__

    def no_gradio(name, *args, **kwargs):
        if name == "gradio" or name.startswith("gradio."):
            raise ImportError("No module named 'gradio'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gradio)
    assert demo.main(["--port", "0"]) == 2
    assert capsys.readouterr().err.strip() == 'error: the web demo needs gradio: pip install "gfpgan[demo]"'


def test_main_rejects_bad_paths(tmp_path, caplog):
    assert demo.main(["--model-path", str(tmp_path / "nope.pth")]) == 2
    assert demo.main(["--weights-dir", str(tmp_path / "nowhere")]) == 2
    messages = [r.getMessage() for r in caplog.records]
    assert any("nope.pth does not exist" in m for m in messages) and any("is not a folder" in m for m in messages)


def test_build_app(cache, tmp_path, monkeypatch):
    if importlib.util.find_spec("gradio") is None:
        pytest.skip("gradio is not installed (pip install -e '.[demo]')")
    import gradio

    app = demo.build_app(cache, tmp_path)
    assert type(app).__name__ == "Blocks"
    # a Gradio without ImageSlider (before 5.x) shows the input and the result as two images
    monkeypatch.delattr(gradio, "ImageSlider", raising=False)
    app = demo.build_app(cache, tmp_path)
    assert sum(type(b).__name__ == "Image" for b in app.blocks.values()) == 3
