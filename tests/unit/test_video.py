"""Video restoration (gfpgan/video.py, gfpgan-infer on a clip): the one-euro and Savitzky-Golay filters, the face
tracker, the streaming stabilizer, and the command end to end on a tiny generated clip with a random generator and a
mocked detector (the true landmarks of the synthetic clip plus noise)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from tiny_models import tiny_clean

from gfpgan import video
from gfpgan.cli.inference import main
from gfpgan.inference import FaceRestorer, face_template
from gfpgan.utils.state_dict import save_generator_checkpoint
from gfpgan.video import (
    FaceTracker,
    LandmarkStabilizer,
    OneEuroFilter,
    SmoothingOptions,
    face_size,
    landmark_speed,
    savgol_value,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.video_jitter import face_path, jitter, write_clip  # noqa: E402

pytestmark = pytest.mark.usefixtures("single_thread")


# ----------------------------------------------------------------------------------------------------------------------
# Filters


def test_one_euro_keeps_a_constant():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.5)
    x = np.full((5, 2), 3.25)
    for i in range(30):
        np.testing.assert_allclose(f(x, i / 25), x, rtol=1e-14)  # a blend of equal values


def test_one_euro_reduces_noise_on_a_line():
    rng = np.random.default_rng(0)
    t = np.arange(200) / 30
    clean = 10 + 4 * t
    noisy = clean + rng.normal(0, 0.5, t.shape)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    out = np.array([f(np.array([x]), s)[0] for x, s in zip(noisy, t)])
    # after the warm-up a low-pass lags a ramp by a constant: compare residuals around the best-fitting line
    tail = slice(50, None)
    residual = out[tail] - np.polyval(np.polyfit(t[tail], out[tail], 1), t[tail])
    assert residual.std() < 0.35 * (noisy - clean)[tail].std()


def test_one_euro_follows_a_step():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    out = [f(np.array([0.0 if i < 10 else 1.0]), i / 30)[0] for i in range(60)]
    assert 0 < out[10] < 0.5  # smoothed at the step
    assert abs(out[40] - 1) < 0.01  # and there 30 frames (1 s) later
    fast = OneEuroFilter(min_cutoff=1.0, beta=5.0)  # the speed term shortens the lag
    out_fast = [fast(np.array([0.0 if i < 10 else 1.0]), i / 30)[0] for i in range(60)]
    assert out_fast[15] > out[15]


def test_one_euro_on_landmarks_is_scale_invariant():
    """Speeds are measured in face sizes per second: a face k times larger gives exactly k times the output."""
    rng = np.random.default_rng(0)
    _, truth = face_path(40, 256, 100.0)
    noisy = truth + rng.normal(0, 1.0, truth.shape)
    outs = []
    for k in (1.0, 4.0):
        f = OneEuroFilter(1.0, 4.0, 1.0, speed=landmark_speed)
        outs.append(np.stack([f(k * p, i / 25) for i, p in enumerate(noisy)]))
    np.testing.assert_allclose(outs[1], 4.0 * outs[0], rtol=1e-9, atol=1e-9)
    assert face_size(face_template(512)) == pytest.approx(512, rel=1e-4)


def test_savgol_reproduces_a_quadratic_and_handles_gaps():
    frames = np.array([0, 1, 2, 4, 5, 6, 7])  # frame 3 missing
    values = np.stack([np.full((5, 2), 0.5 * f * f - 2 * f + 1) for f in frames])
    for at in (3, 5, 7):
        np.testing.assert_allclose(savgol_value(frames, values, at), 0.5 * at * at - 2 * at + 1, atol=1e-9)


# ----------------------------------------------------------------------------------------------------------------------
# Tracking and stabilising


def _face(cx: float, cy: float, size: float) -> np.ndarray:
    return (face_template(512) - 256) * (size / 512) + np.array([cx, cy], np.float32)


def test_tracker_keeps_identities_of_two_moving_faces_and_bridges_a_miss():
    tracker = FaceTracker(max_missed=2)
    rng = np.random.default_rng(0)
    ids = {"a": set(), "b": set()}
    for t in range(20):
        faces = {"a": _face(40 + 4 * t, 60, 50), "b": _face(200 - 4 * t, 140, 60)}  # they pass each other
        if t == 7:
            del faces["a"]  # the detector misses face a once
        names = list(faces)
        rng.shuffle(names)  # detection order means nothing
        for name, track_id in zip(names, tracker.update(t, [faces[n] for n in names])):
            ids[name].add(track_id)
    assert len(ids["a"]) == len(ids["b"]) == 1 and ids["a"] != ids["b"]
    # a face gone for longer than max_missed starts a new track
    for t in range(20, 24):
        tracker.update(t, [_face(200 - 4 * t, 140, 60)])
    assert tracker.update(24, [_face(40 + 4 * 24, 60, 50)]) == [2]


def test_stabilizer_fills_a_short_gap_and_emits_every_frame_once():
    options = SmoothingOptions(method="savgol", window=5, max_missed=2)
    stabilizer = LandmarkStabilizer(25, options)
    assert stabilizer.delay == 2 + 2
    out = []
    for t in range(15):
        faces = [_face(50 + t, 50, 40)] if t not in (6, 7) else []  # a 2-frame miss
        if t >= 12:
            faces = []  # the face leaves for good
        out += stabilizer.push(faces)
        assert len(out) == max(0, t + 1 - stabilizer.delay)  # bounded delay
    out += list(stabilizer.finish())
    assert [t for t, _ in out] == list(range(15))
    counts = [len(landmarks) for _, landmarks in out]
    assert counts == [1] * 12 + [0] * 3  # frames 6 and 7 are interpolated, 12.. have no face
    np.testing.assert_allclose(out[6][1][0], _face(56, 50, 40), atol=1e-3)  # the path is linear


@pytest.mark.parametrize("method", ["one-euro", "savgol"])
def test_smoothing_reduces_jitter_of_a_noisy_path(method):
    rng = np.random.default_rng(0)
    _, truth = face_path(72, 256, 160.0)
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    results = {}
    for m in ("none", method):
        stabilizer = LandmarkStabilizer(25, SmoothingOptions(method=m))
        out = [lm for p in noisy for _, lm in stabilizer.push([p])] + [lm for _, lm in stabilizer.finish()]
        results[m] = np.stack([lm[0] for lm in out]).astype(np.float64)
    np.testing.assert_allclose(results["none"], noisy, atol=1e-4)
    assert jitter(results[method]) < 0.6 * jitter(results["none"])
    assert np.sqrt(((results[method] - truth) ** 2).sum(-1).mean()) < 3.0  # follows the path (lag included)


def test_options_are_validated():
    with pytest.raises(ValueError, match="--smooth-window"):
        SmoothingOptions(window=4)
    with pytest.raises(ValueError, match="--smooth"):
        SmoothingOptions(method="kalman")


# ----------------------------------------------------------------------------------------------------------------------
# The command end to end

S = 16  # generator face size
NUM_FRAMES, FRAME, FPS = 12, 64, 10.0


@pytest.fixture
def clip(tmp_path) -> tuple[Path, np.ndarray]:
    """A 12-frame 64x64 mp4v clip at 10 fps with a moving synthetic face, and its true landmarks (T,5,2)."""
    frames = tmp_path / "frames"
    truth = write_clip(frames, NUM_FRAMES, FRAME, 40.0)
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (FRAME, FRAME))
    for f in sorted(frames.iterdir()):
        writer.write(cv2.imread(str(f)))
    writer.release()
    return path, truth


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    net = tiny_clean(S, noise_strength=0.5)
    return save_generator_checkpoint(tmp_path / "tiny.pth", params=net.state_dict(), params_ema=net.state_dict())


@pytest.fixture
def fake_detector(monkeypatch, clip):
    """FaceRestorer.detect_landmarks returns the clip's true landmarks + noise, frame after frame."""
    rng = np.random.default_rng(0)
    noisy = clip[1] + rng.normal(0, 0.5, clip[1].shape)
    calls = []

    def detect(self, img, only_center_face=False):
        calls.append(img.shape)
        return [noisy[(len(calls) - 1) % NUM_FRAMES].astype(np.float32)]

    monkeypatch.setattr(FaceRestorer, "detect_landmarks", detect)
    return calls


def _argv(src: Path, out: Path, checkpoint: Path, *extra: str) -> list[str]:
    return ["-i", str(src), "-o", str(out), "--model-path", str(checkpoint), "--device", "cpu", "--no-parse",
            "--bg_upsampler", "none", *extra]  # fmt: skip


def _read_video(path: Path) -> tuple[int, float, tuple[int, int]]:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    count, shape = 0, None
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        count, shape = count + 1, frame.shape[:2]
    cap.release()
    return count, fps, shape


@pytest.mark.parametrize("with_ffmpeg", [False, True])
def test_cli_restores_a_clip(tmp_path, clip, checkpoint, fake_detector, monkeypatch, caplog, with_ffmpeg):
    if with_ffmpeg and video.find_ffmpeg() is None:
        pytest.skip("no ffmpeg (pip install imageio-ffmpeg)")
    if not with_ffmpeg:
        monkeypatch.setattr(video, "find_ffmpeg", lambda: None)
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO):
        assert main(_argv(clip[0], out, checkpoint, "-s", "2")) == 0
    assert len(fake_detector) == NUM_FRAMES  # one detection per frame
    assert [p.name for p in out.iterdir()] == ["clip.mp4"]  # no temporary file left
    count, fps, shape = _read_video(out / "clip.mp4")
    assert count == NUM_FRAMES and fps == pytest.approx(FPS, rel=1e-3) and shape == (2 * FRAME, 2 * FRAME)
    if not with_ffmpeg:
        assert any("gfpgan[video]" in r.getMessage() for r in caplog.records)  # says how to get audio
    else:
        assert "h264" in caplog.text


def test_cli_copies_the_audio(tmp_path, checkpoint, clip, fake_detector):
    ffmpeg = video.find_ffmpeg()
    if ffmpeg is None:
        pytest.skip("no ffmpeg (pip install imageio-ffmpeg)")
    with_audio = tmp_path / "talk.mp4"
    cmd = [ffmpeg, "-y", "-loglevel", "error", "-i", str(clip[0]), "-f", "lavfi", "-i",
           f"sine=frequency=440:duration={NUM_FRAMES / FPS}", "-c:v", "copy", "-c:a", "aac", "-shortest",
           str(with_audio)]  # fmt: skip
    subprocess.run(cmd, check=True)
    out = tmp_path / "out"
    assert main(_argv(with_audio, out, checkpoint, "-s", "1", "--video-codec", "mp4v")) == 0
    assert video._has_audio(ffmpeg, out / "talk.mp4")
    assert _read_video(out / "talk.mp4")[0] == NUM_FRAMES


def test_failure_midway_leaves_no_output(tmp_path, clip, checkpoint, fake_detector, monkeypatch, capsys):
    real_enhance = FaceRestorer.enhance
    calls = []

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("simulated failure at frame 5")
        return real_enhance(self, *args, **kwargs)

    monkeypatch.setattr(FaceRestorer, "enhance", failing)
    out = tmp_path / "out"
    assert main(_argv(clip[0], out, checkpoint, "-s", "1")) == 1
    assert "simulated failure" in capsys.readouterr().err
    assert list(out.iterdir()) == []  # neither clip.mp4 nor a temporary file


def test_frames_folder_gives_frames_with_the_same_names(tmp_path, clip, checkpoint, fake_detector):
    frames = tmp_path / "frames"
    out = tmp_path / "out"
    assert main(_argv(frames, out, checkpoint, "-s", "1", "--video", "--fps", "12", "--video-output", "both")) == 0
    assert sorted(p.name for p in (out / "frames").iterdir()) == sorted(p.name for p in frames.iterdir())
    assert cv2.imread(str(out / "frames" / "0000.png")).shape == (FRAME, FRAME, 3)
    count, fps, _ = _read_video(out / "frames.mp4")
    assert count == NUM_FRAMES and fps == pytest.approx(12)


def test_bad_video_is_one_line_naming_the_file(tmp_path, checkpoint, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 but nothing else")
    assert main(_argv(bad, tmp_path / "out", checkpoint)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.mp4" in err[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(_argv(empty, tmp_path / "out", checkpoint, "--video")) == 2
    assert "no frames" in capsys.readouterr().err
