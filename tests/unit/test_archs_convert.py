"""GFPGANBilinear -> GFPGANv1Clean conversion is exact; GFPGANv1 (blur) weights are refused."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from gfpgan.archs.convert import UnsupportedConversion, convert_bilinear_to_clean
from gfpgan.archs.gfpgan import GFPGANBilinear, GFPGANv1Clean
from gfpgan.utils.state_dict import read_state_dict, save_generator_checkpoint

REPO = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("single_thread")


def _random_bilinear(seed: int, **kw) -> GFPGANBilinear:
    torch.manual_seed(seed)
    net = GFPGANBilinear(**kw).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            noise = torch.randn(t.shape, generator=g)
            # equalized-lr weights are N(0,1) by design; biases, noise strengths, buffers: smaller, non-zero
            t.copy_(noise if t.ndim >= 2 and "noises" not in name else 0.2 * noise)
    return net


@pytest.mark.parametrize(
    "kw",
    [
        dict(out_size=32, sft_half=True, input_is_latent=True, different_w=True),
        dict(out_size=64, channel_multiplier=2, sft_half=False, input_is_latent=False, different_w=False),
    ],
    ids=["32-cssft-wplus", "64-sft-mlp"],
)
def test_bilinear_to_clean_is_numerically_equivalent(kw):
    kw = dict(num_style_feat=32, narrow=0.125, num_mlp=2, fix_decoder=False, **kw)
    src = _random_bilinear(0, **kw)
    clean_sd = convert_bilinear_to_clean(src.state_dict(), kw["narrow"], kw.get("channel_multiplier", 1))
    dst = GFPGANv1Clean(**kw).eval()
    dst.load_state_dict(clean_sd, strict=True)
    x = torch.rand(2, 3, kw["out_size"], kw["out_size"]) * 2 - 1
    with torch.no_grad():
        a, rgb_a = src(x, randomize_noise=False)
        b, rgb_b = dst(x, randomize_noise=False)
    assert a.abs().max() > 0.1  # a meaningful signal
    assert (a - b).abs().max() <= 1e-4
    assert all((p - q).abs().max() <= 1e-4 for p, q in zip(rgb_a, rgb_b))


def test_original_arch_is_refused_with_explanation():
    with pytest.raises(UnsupportedConversion, match="FIR"):
        convert_bilinear_to_clean({}, source_arch="original")
    with pytest.raises(UnsupportedConversion, match="already a clean state dict"):
        convert_bilinear_to_clean(GFPGANv1Clean(32, narrow=0.125, num_style_feat=32).state_dict())


def _load_script():
    spec = importlib.util.spec_from_file_location("convert_script", REPO / "scripts" / "convert_bilinear_to_clean.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script(tmp_path, capsys):
    script = _load_script()
    kw = dict(out_size=32, num_style_feat=32, narrow=0.125, num_mlp=2, fix_decoder=False)
    src = _random_bilinear(1, **kw, sft_half=True, input_is_latent=True, different_w=True)
    path = save_generator_checkpoint(tmp_path / "bilinear.pth", src.state_dict(), src.state_dict())
    common = ["--input", str(path), "--out-size", "32", "--channel-multiplier", "1", "--narrow", "0.125"]
    assert script.main(["--source-arch", "original", "--output", str(tmp_path / "x.pth"), *common]) == 2
    assert "FIR" in capsys.readouterr().err and not (tmp_path / "x.pth").exists()
    out = tmp_path / "clean.pth"
    assert script.main(["--source-arch", "bilinear", "--output", str(out), "--verify", *common]) == 0
    assert "verify: max |bilinear - clean|" in capsys.readouterr().out
    clean = read_state_dict(out)
    assert "stylegan_decoder.style_conv1.bias" in clean and "conv_body_first.weight" in clean
