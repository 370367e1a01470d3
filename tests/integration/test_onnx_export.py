"""ONNX export of a tiny GFPGANv1Clean: dynamic batch, opset >= 17, onnxruntime within 1e-3 of PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import tiny_clean

from gfpgan.export import NoiseFreeGenerator, _modulated_conv2d_shared_weight, export_onnx, main, verify_onnx
from gfpgan.utils.state_dict import save_generator_checkpoint

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def test_shared_weight_modulated_conv_matches_the_grouped_form():
    from gfpgan.archs.stylegan2 import modulated_conv2d

    gen = torch.Generator().manual_seed(0)
    x, w, s = torch.randn(3, 8, 7, 7, generator=gen), torch.randn(1, 5, 8, 3, 3, generator=gen), torch.randn(3, 8)
    for demodulate in (True, False):
        expected = modulated_conv2d(x, w, s, demodulate, padding=1)
        assert torch.allclose(_modulated_conv2d_shared_weight(x, w, s, demodulate, padding=1), expected, atol=1e-5)


def test_export_round_trip(tmp_path):
    net = tiny_clean(16)  # non-zero noise strengths: the stored noise must be baked in correctly
    path = export_onnx(net, tmp_path / "g.onnx", opset=17)
    model = onnx.load(str(path))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    diffs = verify_onnx(net, path, batch_sizes=(1, 3))
    assert max(diffs.values()) < 1e-3, diffs
    # the export is the noise-free (stored buffers) forward, untouched by the export-time patch
    x = torch.zeros(1, 3, 16, 16)
    assert torch.equal(NoiseFreeGenerator(net)(x), net(x, return_rgb=False, randomize_noise=False)[0])
    with pytest.raises(ValueError, match="opset"):
        export_onnx(net, tmp_path / "old.onnx", opset=13)


def test_export_cli(tmp_path):
    net = tiny_clean(16)  # non-zero noise strengths: the stored noise must be baked in correctly
    ckpt = save_generator_checkpoint(tmp_path / "g.pth", params=None, params_ema=net.state_dict())
    assert main(["--model-path", str(ckpt), "-o", str(tmp_path / "cli.onnx")]) == 0
    assert (tmp_path / "cli.onnx").stat().st_size > 0
    assert np.isfinite(verify_onnx(net, tmp_path / "cli.onnx", batch_sizes=(2,))[2])
