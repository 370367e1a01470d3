"""FaceRestorer: checkpoint inference, restoration numerics (seeded noise, batching, dtype, fidelity blend), image
formats and the geometry helpers. Tiny random generators; no downloads."""

from __future__ import annotations

import json
import logging
import math
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from tiny_models import tiny_clean

from gfpgan.archs.gfpgan import GFPGANBilinear, GFPGANv1, GFPGANv1Clean
from gfpgan.inference import (
    FaceRestorer,
    estimate_alignment,
    face_template,
    infer_generator_config,
    inverse_alignment,
    measure_latency,
)

KEYS_DIR = Path(__file__).resolve().parents[1] / "data" / "keys"  # official key listings (tests/data/keys/README.md)


S = 16  # face size of the tiny generators


def restorer(net=None, **kwargs) -> FaceRestorer:
    return FaceRestorer(net=net or tiny_clean(), device="cpu", use_parse=False, **kwargs)


def faces(n: int, size: int = S, seed: int = 0, dtype=np.uint8) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    return [rng.integers(0, top + 1, (size, size, 3), dtype=dtype) for _ in range(n)]


# -- checkpoint inference ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls, kwargs, arch",
    [
        (GFPGANv1Clean, dict(out_size=64, channel_multiplier=2, narrow=0.25), "clean"),
        (GFPGANv1Clean, dict(out_size=128, channel_multiplier=1, narrow=0.5, num_mlp=2), "clean"),
        (GFPGANv1, dict(out_size=64, channel_multiplier=1, narrow=0.25), "original"),
        (GFPGANBilinear, dict(out_size=64, channel_multiplier=2, narrow=0.25), "original"),
    ],
)
def test_infer_generator_config_recovers_the_constructor(cls, kwargs, arch):
    net = cls(num_style_feat=64, different_w=True, sft_half=True, input_is_latent=True, **kwargs)
    got_arch, got = infer_generator_config(net.state_dict())
    assert got_arch == arch  # original and bilinear share their keys: both read as "original"
    for key, value in {"num_mlp": 8, **kwargs, "num_style_feat": 64, "different_w": True, "sft_half": True}.items():
        assert got[key] == value, key


def test_infer_generator_config_rejects_other_state_dicts():
    with pytest.raises(ValueError, match="not a GFPGAN generator"):
        infer_generator_config({"conv1.weight": torch.zeros(1)})


def test_loads_checkpoint_files_and_rejects_a_wrong_arch(tmp_path):
    from gfpgan.utils.state_dict import save_generator_checkpoint

    net = tiny_clean()
    path = save_generator_checkpoint(tmp_path / "g.pth", params=None, params_ema=net.state_dict())
    r = FaceRestorer(model_path=path, device="cpu", use_parse=False)
    assert (r.arch, r.out_size) == ("clean", S)
    for (name, a), b in zip(r.net.state_dict().items(), net.state_dict().values()):
        assert torch.equal(a, b), name
    with pytest.raises(ValueError, match="keys are those of a clean model"):
        FaceRestorer(model_path=path, arch="original", device="cpu")
    with pytest.raises(ValueError, match="do not fit"):
        FaceRestorer(model_path=path, channel_multiplier=1, out_size=2 * S, device="cpu")


def test_official_v13_layout_loads_without_warnings(caplog):
    entries = json.loads((KEYS_DIR / "GFPGANv1Clean_512_v1.3_v1.4.json").read_text())["state_dict"]
    gen = torch.Generator().manual_seed(0)
    state = {e["key"]: torch.randn(e["shape"], generator=gen) * 0.01 for e in entries}
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        r = FaceRestorer(model_path={"params_ema": state}, device="cpu", use_parse=False)
    assert not caught and not caplog.records
    assert (r.arch, r.out_size) == ("clean", 512)
    assert r.net.stylegan_decoder.to_rgbs[-1].modulated_conv.weight.shape == (1, 3, 64, 1, 1)  # cm 2
    assert sum(p.numel() for p in r.net.parameters()) == 86_444_252
    assert torch.equal(r.net.state_dict()["final_linear.weight"], state["final_linear.weight"])


# -- restoration numerics ------------------------------------------------------------------------------------------


def test_fixed_seed_is_deterministic_and_batch_invariant():
    r = restorer(seed=0)
    x = torch.rand(3, 3, S, S, generator=torch.Generator().manual_seed(1)) * 2 - 1
    batched = r.restore_tensor(x)
    one_by_one = torch.cat([r.restore_tensor(x[i : i + 1]) for i in range(3)])
    assert torch.allclose(batched, one_by_one, atol=1e-5, rtol=0)
    assert torch.equal(batched, r.restore_tensor(x))
    other_seed = restorer(seed=1).restore_tensor(x)
    assert (other_seed - batched).abs().max() > 1e-3  # the seed selects the noise
    # the stored noise buffers are untouched by the seeded forward
    fresh = tiny_clean()
    for (name, a), b in zip(r.net.stylegan_decoder.noises.named_buffers(), fresh.stylegan_decoder.noises.buffers()):
        assert torch.equal(a, b), name
    # restore_faces batches the same way: results do not depend on batch_size
    crops = faces(5)
    for a, b in zip(r.restore_faces(crops, batch_size=5), r.restore_faces(crops, batch_size=2)):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # rounding ties only


def test_default_batch_size_depends_on_the_device():
    assert restorer().batch_size == 1  # CPU: batches are slower per face
    assert restorer(batch_size=3).batch_size == 3
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        restorer(batch_size=0)


def test_random_noise_mode_is_stochastic():
    r = restorer(seed=None)
    x = torch.zeros(1, 3, S, S)
    assert (r.restore_tensor(x) - r.restore_tensor(x)).abs().max() > 1e-3


def test_weight_blends_restoration_and_input_in_pixel_space():
    r = restorer()
    crops = faces(2)
    pure = r.restore_faces(crops)
    assert all(np.array_equal(a, b) for a, b in zip(pure, r.restore_faces(crops, weight=1.0)))
    assert all(np.array_equal(a, b) for a, b in zip(crops, r.restore_faces(crops, weight=0.0)))
    x = torch.from_numpy(np.stack(crops)[..., ::-1].copy()).permute(0, 3, 1, 2).float() / 255 * 2 - 1
    out = r.restore_tensor(x)
    expected = 0.25 * out + 0.75 * x
    assert torch.allclose(r.restore_tensor(x, weight=0.25), expected, atol=1e-6)
    with pytest.raises(ValueError, match="weight must be in"):
        r.restore_faces(crops, weight=1.5)


def test_restored_faces_follow_gfpganer_conversion():
    r = restorer()
    crop = faces(1)[0]
    x = torch.from_numpy(crop[:, :, ::-1].copy()).permute(2, 0, 1)[None].float() / 255 * 2 - 1
    out = r.restore_tensor(x)[0].clamp(-1, 1)
    expected = ((out + 1) / 2 * 255).round().byte().permute(1, 2, 0).numpy()[:, :, ::-1]
    assert np.array_equal(r.restore_faces([crop])[0], expected)


def test_bfloat16_on_cpu_matches_float32():
    net = tiny_clean()
    x = torch.rand(2, 3, S, S, generator=torch.Generator().manual_seed(2)) * 2 - 1
    ref = restorer(tiny_clean()).restore_tensor(x)
    bf16 = restorer(net, dtype="bfloat16")
    assert next(bf16.net.parameters()).dtype == torch.bfloat16
    out = bf16.restore_tensor(x)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert (out - ref).abs().mean() < 0.05 * ref.abs().mean() + 1e-3
    assert bf16.restore_faces(faces(1))[0].dtype == np.uint8


def test_uint16_faces_keep_their_depth():
    r = restorer()
    crop16 = faces(1, dtype=np.uint16)[0]
    out16 = r.restore_faces([crop16])[0]
    assert out16.dtype == np.uint16
    out8 = r.restore_faces([(crop16 // 257).astype(np.uint8)])[0]
    assert np.abs(out16 / 257.0 - out8).max() < 3  # same restoration, finer quantisation


# -- whole-image pipeline (landmarks given, real generator) --------------------------------------------------------


def _face_landmarks(size: int, scale: float, angle_deg: float, shift: tuple[float, float]) -> np.ndarray:
    a = math.radians(angle_deg)
    rot = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return (face_template(size) @ rot.T + np.array(shift)).astype(np.float32)


def test_enhance_formats_alpha_gray_16bit_and_no_face():
    r = restorer(upscale=2)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)
    lm = _face_landmarks(S, 2.4, 10, (10, 8))
    cropped, restored, out = r.enhance(img, landmarks=[lm])
    assert len(cropped) == len(restored) == 1 and cropped[0].shape == restored[0].shape == (S, S, 3)
    assert out.shape == (100, 120, 3) and out.dtype == np.uint8

    bgra = np.dstack([img, np.full(img.shape[:2], 77, np.uint8)])
    out_a = r.enhance(bgra, landmarks=[lm])[2]
    assert out_a.shape == (100, 120, 4) and (out_a[:, :, 3] == 77).all()
    assert np.array_equal(out_a[:, :, :3], out)

    gray = img[:, :, 1].copy()
    c_g, r_g, out_g = r.enhance(gray, landmarks=[lm])
    assert out_g.shape == (100, 120) and out_g.dtype == np.uint8
    assert np.array_equal(r_g[0][:, :, 0], r_g[0][:, :, 2])  # restored face converted back to gray
    colour = FaceRestorer(net=r.net, device="cpu", use_parse=False, colorize=True).enhance(gray, landmarks=[lm])[2]
    assert colour.shape == (100, 120, 3)

    img16 = img.astype(np.uint16) * 257
    out16 = r.enhance(img16, landmarks=[lm])[2]
    assert out16.dtype == np.uint16 and np.abs(out16 / 257.0 - out).max() <= 2

    cropped, restored, bg = r.enhance(img, landmarks=[])
    assert cropped == [] and restored == []
    assert np.array_equal(bg, cv2.resize(img, (120, 100), interpolation=cv2.INTER_LANCZOS4))

    assert r.enhance(img, landmarks=[lm], paste_back=False)[2] is None
    face_in, face_out, none = r.enhance(cv2.resize(img, (40, 40)), has_aligned=True)
    assert none is None and face_in[0].shape == face_out[0].shape == (S, S, 3)


def test_only_center_face_keeps_the_face_nearest_the_centre():
    r = restorer(upscale=1)
    img = np.full((60, 120, 3), 100, np.uint8)
    left, centre = _face_landmarks(S, 1.0, 0, (2, 10)), _face_landmarks(S, 1.0, 0, (52, 20))
    cropped, _, _ = r.enhance(img, landmarks=[left, centre], only_center_face=True)
    assert len(cropped) == 1
    expected = cv2.warpAffine(img, estimate_alignment(centre, S), (S, S), borderValue=(135, 133, 132))
    assert np.array_equal(cropped[0], expected)


def test_alignment_recovers_a_known_similarity():
    lm = _face_landmarks(64, 1.7, -20, (31.5, 12.25))
    m = estimate_alignment(lm, 64)
    mapped = lm @ m[:, :2].T + m[:, 2]
    assert np.abs(mapped - face_template(64)).max() < 1e-3
    inv = inverse_alignment(m, 2)
    back = face_template(64) @ inv[:, :2].T + inv[:, 2]
    assert np.abs(back - (2 * lm + 1.0)).max() < 1e-3  # x upscale, + 0.5 * upscale (facexlib's offset)


def test_measure_latency_reports_per_face_time():
    stats = measure_latency(out_size=16, channel_multiplier=1, narrow=0.125, batch_size=2, num_iters=1, num_warmup=0)
    assert stats["ms_per_face"] > 0 and stats["batch_size"] == 2
    assert stats["faces_per_s"] == pytest.approx(1000 / stats["ms_per_face"])


def test_channels_last_and_compile_give_the_same_faces(tmp_path):
    """The speed options change nothing but speed: channels_last and torch.compile restore the same faces."""
    import numpy as np
    import torch

    from gfpgan.inference import FaceRestorer
    from gfpgan.registry import ARCHS

    torch.manual_seed(0)
    net = ARCHS.build(
        {"type": "GFPGANv1Clean", "out_size": 32, "num_style_feat": 32, "channel_multiplier": 1, "narrow": 0.125,
         "num_mlp": 2, "input_is_latent": True, "different_w": True, "sft_half": True}, where="network_g",
    )  # fmt: skip
    path = tmp_path / "net_g.pth"
    torch.save({"params_ema": net.state_dict()}, path)
    faces = [np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8) for i in range(2)]
    plain = FaceRestorer(model_path=path, device="cpu").restore_faces(faces)
    fast = FaceRestorer(model_path=path, device="cpu", channels_last=True, compile=True).restore_faces(faces)
    for a, b in zip(plain, fast):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def _tiny_restorer_net():
    from gfpgan.registry import ARCHS

    torch.manual_seed(0)
    return ARCHS.build(
        {"type": "GFPGANv1Clean", "out_size": 32, "num_style_feat": 32, "channel_multiplier": 1, "narrow": 0.125,
         "num_mlp": 2, "input_is_latent": True, "different_w": True, "sft_half": True}, where="network_g",
    )  # fmt: skip


def test_default_restorer_uses_channels_last_on_cpu_and_matches_the_plain_forward():
    from gfpgan.inference import FaceRestorer

    net = _tiny_restorer_net()
    default = FaceRestorer(net=net, device="cpu", use_parse=False)
    assert default.memory_format == torch.channels_last  # the default path is the fast one on the CPU
    plain = FaceRestorer(net=_tiny_restorer_net(), device="cpu", use_parse=False, channels_last=False)
    assert plain.memory_format == torch.contiguous_format
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(default.restore_tensor(x), plain.restore_tensor(x), rtol=1e-5, atol=1e-5)


def test_failed_compilation_falls_back_to_eager(monkeypatch, caplog):
    """A compiler failure (e.g. no C++ compiler for the CPU backend) costs a warning, not the run."""
    from gfpgan.inference import FaceRestorer

    def broken_compile(module, **kwargs):
        def run(*args, **kw):
            raise RuntimeError("InductorError: no working C++ compiler found\nsecond line")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    restorer = FaceRestorer(net=_tiny_restorer_net(), device="cpu", use_parse=False, compile=True)
    eager = FaceRestorer(net=_tiny_restorer_net(), device="cpu", use_parse=False)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with caplog.at_level(logging.WARNING, logger="gfpgan.inference"):
        out = restorer.restore_tensor(x)
    assert "torch.compile failed (InductorError: no working C++ compiler found)" in caplog.text
    torch.testing.assert_close(out, eager.restore_tensor(x))
    assert restorer._compiled is None  # no second attempt


def test_cli_compiles_by_default_only_for_long_cuda_jobs(monkeypatch):
    import gfpgan.inference
    from gfpgan.cli import inference as cli

    assert cli.resolve_compile(True, 1, "cpu") is True and cli.resolve_compile(False, 10**6, "cpu") is False
    assert cli.resolve_compile(None, 10**6, "cpu") is False  # the CPU's eager path is as fast as the compiled one
    monkeypatch.setattr(gfpgan.inference, "resolve_device", lambda device: torch.device("cuda"))
    monkeypatch.setattr(cli.importlib.util, "find_spec", lambda name: object())
    assert cli.resolve_compile(None, cli.COMPILE_AUTO_MIN_INPUTS - 1, "auto") is False
    assert cli.resolve_compile(None, cli.COMPILE_AUTO_MIN_INPUTS, "auto") is True
    monkeypatch.setattr(cli.importlib.util, "find_spec", lambda name: None)
    assert cli.resolve_compile(None, cli.COMPILE_AUTO_MIN_INPUTS, "auto") is False  # no triton: stay eager
