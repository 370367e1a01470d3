"""Real-ESRGAN networks (gfpgan/archs/realesrgan.py) and the background upsampler (gfpgan/upsample.py).

tests/data/realesrgan_golden.json comes from benchmarks/reference_check/make_realesrgan_golden.py: the official
basicsr RRDBNet / realesrgan SRVGGNetCompact key listings (the released configurations included), their outputs with
seeded weights on seeded inputs (``fill_state`` / ``network_input`` of realesrgan_inputs.py, shared with the generator
script), and the official ``RealESRGANer.enhance`` results on seeded images. No reference package is needed here.

Measured (torch 2.14.1, CPU, 1 thread): ours equals the reference bit for bit on every network output and both
pipeline images; tolerances below leave room for other CPUs' kernels. Tiled vs untiled, tile 32, tile_pad 10, 100x75
image, float output in [0,1] (uint8: a few 0.5-rounding flips of 1 level, nothing more):
- SRVGGNetCompact, 4 convs (receptive radius 6 < the 8 pixels every kept pixel keeps from a cut): max 2.4e-7.
- RRDBNet x2, 2 blocks (radius ~32 input pixels): max 1.0e-3 (0.27 uint8 levels), mean 2.9e-5; 0.7% of the uint8
  pixels differ, by 1. (Hard crop as the official: max 1.5e-3; cross-fading over the whole pad: 7.9e-3.)
- realesr-general-x4v3 layout (radius 34): max 5.9e-5. With tile_pad 20 every case is below 3e-6.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from realesrgan_inputs import (
    NETWORKS,
    PIPELINES,
    RELEASED,
    fill_state,
    fingerprint,
    key_listing,
    network_input,
    pipeline_image,
    summarise,
)

from gfpgan.archs.realesrgan import RRDBNet, SRVGGNetCompact
from gfpgan.registry import ARCHS
from gfpgan.upsample import KNOWN_MODELS, BackgroundUpsampler, infer_upsampler_config
from gfpgan.utils.weights import KNOWN_WEIGHTS, WeightsNotFoundError

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "data" / "realesrgan_golden.json").read_text())
RTOL, ATOL = 1e-5, 1e-5  # network outputs against the reference (measured: identical)
TILE_TOL_EXACT = 1e-5  # tiled vs untiled when every kept pixel is farther from a cut than the receptive radius
TILE_TOL_RRDB = 2e-3  # tiled vs untiled, RRDBNet x2 (2 blocks), tile 32 / pad 10 (measured 1.04e-3)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def seeded(name: str) -> torch.nn.Module:
    """Our network of NETWORKS[name] with the generator script's weights (the salt is the entry's position)."""
    cls_name, kwargs, _ = NETWORKS[name]
    net = ARCHS.build({"type": cls_name, **kwargs}, where=name)
    net.load_state_dict(fill_state(net.state_dict(), list(NETWORKS).index(name)), strict=True)
    return net.eval()


def check_summary(t: torch.Tensor | np.ndarray, golden: dict, salt: int, rtol: float = RTOL, atol: float = ATOL):
    ours = summarise(t, salt)
    assert ours["shape"] == golden["shape"] and ours["indices"] == golden["indices"]
    np.testing.assert_allclose(ours["values"], golden["values"], rtol=rtol, atol=atol)
    np.testing.assert_allclose([ours["mean"], ours["abs_mean"]], [golden["mean"], golden["abs_mean"]], rtol, atol)


def test_seeded_numbers_are_the_goldens_ones():
    assert fingerprint() == pytest.approx(GOLDEN["fingerprint"], rel=1e-6), (
        "torch.Generator draws different numbers than when tests/data/realesrgan_golden.json was recorded "
        f"({GOLDEN['reference']}); re-run benchmarks/reference_check/make_realesrgan_golden.py"
    )


# ---------------------------------------------------------------------------------------------------------------------
# Networks


@pytest.mark.parametrize("name", list(RELEASED))
def test_released_configurations_have_the_official_keys(name):
    cls_name, kwargs = RELEASED[name]
    with torch.device("meta"):
        net = ARCHS.build({"type": cls_name, **kwargs}, where=name)
    assert key_listing(net) == GOLDEN["released"][name]["keys"]
    assert sum(p.numel() for p in net.parameters()) == GOLDEN["released"][name]["num_params"]
    assert kwargs == {k: v for k, v in KNOWN_MODELS[name].items() if k != "type"}  # the upsampler builds these


def test_released_layouts_at_a_glance():
    keys = dict((k, tuple(s)) for k, s in GOLDEN["released"]["RealESRGAN_x2plus"]["keys"])
    assert keys["conv_first.weight"] == (64, 12, 3, 3)  # pixel-unshuffled input: 3 channels x 4
    assert keys["body.22.rdb3.conv5.weight"] == (64, 64 + 4 * 32, 3, 3) and "body.23.rdb1.conv1.weight" not in keys
    keys = dict((k, tuple(s)) for k, s in GOLDEN["released"]["realesr-general-x4v3"]["keys"])
    assert keys["body.1.weight"] == (64,) and keys["body.66.weight"] == (48, 64, 3, 3)  # PReLU; 3 * 4**2 channels
    assert GOLDEN["released"]["RealESRGAN_x4plus"]["num_params"] == 16_697_987


@torch.no_grad()
@pytest.mark.parametrize("name", list(NETWORKS))
def test_network_outputs_match_the_reference(name):
    net, salt = seeded(name), list(NETWORKS).index(name)
    assert key_listing(net) == GOLDEN["networks"][name]["keys"]
    out = net(network_input(NETWORKS[name][2], salt))
    check_summary(out, GOLDEN["networks"][name]["output"], 100 + salt)


def test_gradients_reach_every_parameter():
    for net in (RRDBNet(scale=2, num_feat=8, num_block=1, num_grow_ch=4), SRVGGNetCompact(num_feat=8, num_conv=2)):
        net(torch.rand(1, 3, 8, 6)).square().mean().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_constructor_and_input_errors():
    with pytest.raises(ValueError, match="scale must be 1, 2 or 4"):
        RRDBNet(scale=3)
    with pytest.raises(ValueError, match="act_type must be"):
        SRVGGNetCompact(act_type="gelu")
    with pytest.raises(ValueError, match=r"input 7x6 must have H and W divisible by 2; pad the image"):
        RRDBNet(scale=2, num_feat=8, num_block=1, num_grow_ch=4)(torch.rand(1, 3, 7, 6))


def test_config_is_read_from_the_keys():
    for name, (cls_name, kwargs) in RELEASED.items():
        with torch.device("meta"):
            state = ARCHS.build({"type": cls_name, **kwargs}, where=name).state_dict()
        assert infer_upsampler_config(state) == {"type": cls_name, **kwargs}
    with pytest.raises(ValueError, match="activation cannot be read from the keys"):
        infer_upsampler_config(SRVGGNetCompact(num_feat=8, num_conv=1, act_type="relu").state_dict())
    with pytest.raises(ValueError, match="is it a Real-ESRGAN model"):
        infer_upsampler_config({"conv1.weight": torch.zeros(1)})


# ---------------------------------------------------------------------------------------------------------------------
# The upsampler against the official RealESRGANer


@pytest.mark.parametrize("name", list(PIPELINES))
def test_enhance_matches_the_official_realesrganer(name):
    net_name, hw, opts = PIPELINES[name]
    salt = list(PIPELINES).index(name)
    upsampler = BackgroundUpsampler(net=seeded(net_name), device="cpu", dtype="float32", **opts)
    out, second = upsampler.enhance(pipeline_image(hw, salt))
    golden = GOLDEN["pipelines"][name]
    assert second is None and out.dtype == np.uint8 and golden["dtype"] == "uint8"
    check_summary(out, golden, 200 + salt, rtol=0, atol=1)  # uint8 levels: at most a rounding flip


# ---------------------------------------------------------------------------------------------------------------------
# Tiles


def image_tensor(h: int, w: int, seed: int = 0) -> torch.Tensor:
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255


def tiled_vs_untiled(net: torch.nn.Module, x: torch.Tensor, **opts) -> float:
    whole = BackgroundUpsampler(net=net, tile=0, device="cpu", dtype="float32", **opts).upsample_tensor(x)
    tiled = BackgroundUpsampler(net=net, tile=32, device="cpu", dtype="float32", **opts).upsample_tensor(x)
    assert tiled.shape == whole.shape
    return (tiled - whole).abs().max().item()


@pytest.mark.parametrize("pre_pad", [0, 10])
def test_tiles_are_exact_beyond_the_receptive_field(pre_pad):
    """4 convs + 2: radius 6; tile_pad 10 keeps every used pixel 8 from a cut, so tiled == untiled."""
    net = SRVGGNetCompact(num_feat=16, num_conv=4, upscale=4, act_type="prelu")
    net.load_state_dict(fill_state(net.state_dict(), 7))
    assert tiled_vs_untiled(net.eval(), image_tensor(75, 100), tile_pad=10, pre_pad=pre_pad) < TILE_TOL_EXACT


def test_tiles_rrdb_x2_within_tolerance_and_no_seam_in_uint8():
    net, x = seeded("rrdb_x2"), image_tensor(75, 100)
    assert tiled_vs_untiled(net, x, tile_pad=10, pre_pad=0) < TILE_TOL_RRDB
    img = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    whole, _ = BackgroundUpsampler(net=net, tile=0, pre_pad=0, device="cpu").enhance(img)
    tiled, _ = BackgroundUpsampler(net=net, tile=32, tile_pad=10, pre_pad=0, device="cpu").enhance(img)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1


def test_tiles_without_padding_differ_at_the_seams():
    """Sanity check of the test itself: without context the tiles' borders are wrong."""
    assert tiled_vs_untiled(seeded("rrdb_x2"), image_tensor(75, 100), tile_pad=0, pre_pad=0) > 0.05


def test_odd_size_x2_whole_and_tiled():
    net = seeded("rrdb_x2")
    img = (image_tensor(37, 29, seed=3)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    whole = BackgroundUpsampler(net=net, tile=0, pre_pad=5, device="cpu", dtype="float32")
    tiled = BackgroundUpsampler(net=net, tile=15, tile_pad=9, pre_pad=5, device="cpu", dtype="float32")
    assert (tiled.tile, tiled.tile_pad, tiled.size_multiple) == (16, 10, 2)  # rounded up onto the unshuffle grid
    a, b = whole(img, 2), tiled(img, 2)
    assert a.shape == b.shape == (74, 58, 3)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


# ---------------------------------------------------------------------------------------------------------------------
# Image formats, scales, precision, loading


@pytest.fixture(scope="module")
def small() -> BackgroundUpsampler:
    net = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=4)
    net.load_state_dict(fill_state(net.state_dict(), 3))
    return BackgroundUpsampler(net=net, pre_pad=2, device="cpu", dtype="float32")


def test_formats_are_kept(small):
    rng = np.random.default_rng(4)
    bgr = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    out = small(bgr)
    assert out.shape == (36, 44, 3) and out.dtype == np.uint8
    gray = small(bgr[:, :, 0])
    assert gray.shape == (36, 44) and gray.dtype == np.uint8
    alpha = rng.integers(0, 256, (9, 11, 1), dtype=np.uint8)
    bgra = small(np.concatenate([bgr, alpha], axis=2))
    assert bgra.shape == (36, 44, 4) and np.array_equal(bgra[:, :, :3], out)
    deep = small(bgr.astype(np.uint16) * 257)  # the same picture in 16 bits
    assert deep.dtype == np.uint16 and np.abs(deep / 257.0 - out).max() <= 0.51


def test_channel_order_bgr_in_bgr_out(small):
    """A blue image stays blue: the network sees RGB, the caller BGR."""
    img = np.zeros((8, 8, 3), np.uint8)
    img[:, :, 0] = 255
    out = small(img).astype(float).mean((0, 1))
    ref = small.upsample_tensor(torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1).expand(1, 3, 8, 8))
    np.testing.assert_allclose(out, ref.mean((0, 2, 3)).flip(0).numpy() * 255, atol=0.5)


def test_outscale(small):
    img = np.random.default_rng(5).integers(0, 256, (10, 13, 3), dtype=np.uint8)
    assert small.enhance(img, outscale=2)[0].shape == (20, 26, 3)
    assert small.enhance(img, outscale=3.5)[0].shape == (35, 45, 3)  # int(W * outscale), as the official
    assert np.array_equal(small.enhance(img, outscale=4)[0], small.enhance(img)[0])


def test_low_precision_close_to_float32():
    net = seeded("srvgg_relu_x2")
    x = image_tensor(20, 24)
    ref = BackgroundUpsampler(net=net, device="cpu", dtype="float32").upsample_tensor(x)
    low = BackgroundUpsampler(net=net, device="cpu", dtype="bfloat16")
    assert low.dtype == torch.bfloat16 and next(low.net.parameters()).dtype == torch.bfloat16
    out = low.upsample_tensor(x)
    assert out.dtype == torch.float32 and (out - ref).abs().max() < 0.05
    assert BackgroundUpsampler(net=seeded("srvgg_relu_x2"), device="cpu").dtype == torch.float32  # auto on CPU


def test_load_from_files(tmp_path):
    x = image_tensor(12, 10)
    for name, key in (("rrdb_x2", "params_ema"), ("srvgg_general_x4v3", "params")):
        net = seeded(name)
        path = tmp_path / f"{name}.pth"
        torch.save({key: net.state_dict()}, path)
        loaded = BackgroundUpsampler(path, device="cpu", dtype="float32")
        direct = BackgroundUpsampler(net=net, device="cpu", dtype="float32")
        assert loaded.scale == direct.scale and torch.equal(loaded.upsample_tensor(x), direct.upsample_tensor(x))
    # a released name with an explicit file (its layout must be the released one)
    with pytest.raises(Exception, match="missing"):
        BackgroundUpsampler("realesr-general-x4v3", model_path=tmp_path / "rrdb_x2.pth", device="cpu")


def test_released_names_resolve_through_the_weights_registry(tmp_path, monkeypatch):
    for name in KNOWN_MODELS:
        assert KNOWN_WEIGHTS[name].url.startswith("https://github.com/xinntao/Real-ESRGAN/releases/download/v0.")
        assert KNOWN_WEIGHTS[name].url.endswith(f"/{name}.pth")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GFPGAN_OFFLINE", "1")
    monkeypatch.setenv("GFPGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GFPGAN_WEIGHTS_DIR", raising=False)
    with pytest.raises(WeightsNotFoundError, match=r"RealESRGAN_x2plus.pth .*v0.2.1/RealESRGAN_x2plus.pth"):
        BackgroundUpsampler("realesrgan", device="cpu")  # the official --bg_upsampler realesrgan
    with pytest.raises(ValueError, match="neither a known model"):
        BackgroundUpsampler("RealESRGAN_x3plus", device="cpu")


def test_tiny_images_fall_back_to_edge_padding():
    """Reflect padding needs pad < size; a 1-pixel image is padded by replication instead."""
    net = seeded("rrdb_x2")
    assert BackgroundUpsampler(net=net, pre_pad=10, device="cpu")(np.zeros((1, 3, 3), np.uint8)).shape == (2, 6, 3)


def test_face_restorer_hook_uses_the_upsampler():
    from tiny_models import tiny_clean

    from gfpgan.inference import FaceRestorer

    upsampler = BackgroundUpsampler(net=seeded("srvgg_relu_x2"), tile=16, device="cpu")
    img = np.random.default_rng(6).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    restorer = FaceRestorer(net=tiny_clean(), upscale=2, device="cpu", use_parse=False, bg_upsampler=upsampler)
    _, _, out = restorer.enhance(img, landmarks=[])  # no face: the result is the upsampled background
    assert np.array_equal(out, upsampler.enhance(img, outscale=2)[0])
