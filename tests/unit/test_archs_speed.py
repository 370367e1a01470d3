"""Speed-readiness: torch.compile without graph breaks, autocast (bf16 on CPU), channels_last."""

from __future__ import annotations

import pytest
import torch

from gfpgan.archs.discriminators import StyleGAN2Discriminator
from gfpgan.archs.gfpgan import GFPGANBilinear, GFPGANv1, GFPGANv1Clean

GFPGANS = [GFPGANv1, GFPGANBilinear, GFPGANv1Clean]
TINY = dict(
    out_size=32, num_style_feat=16, channel_multiplier=1, narrow=1 / 32, num_mlp=2, input_is_latent=True,
    different_w=True, sft_half=True, fix_decoder=False,
)  # fmt: skip


pytestmark = pytest.mark.usefixtures("single_thread")


def _dynamo_available() -> bool:
    try:
        import torch._dynamo  # noqa: F401
    except Exception:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _dynamo_available(), reason="torch._dynamo unavailable")
@pytest.mark.parametrize("cls", [GFPGANv1, GFPGANv1Clean])
def test_no_graph_breaks(cls):
    torch.manual_seed(0)
    net = cls(**TINY).eval()
    x = torch.rand(2, 3, 32, 32)
    for kwargs in ({"randomize_noise": False}, {}):
        explanation = torch._dynamo.explain(net)(x, **kwargs)
        assert explanation.graph_break_count == 0, explanation.break_reasons
        assert explanation.graph_count == 1


@pytest.mark.slow
@pytest.mark.skipif(not _dynamo_available(), reason="torch._dynamo unavailable")
def test_compile_smoke():
    torch.manual_seed(0)
    net = GFPGANv1Clean(**TINY).eval()
    x = torch.rand(1, 3, 32, 32)
    eager, _ = net(x, randomize_noise=False)
    try:
        compiled = torch.compile(net, backend="aot_eager", fullgraph=True)
        out, _ = compiled(x, randomize_noise=False)
    except Exception as e:  # pragma: no cover - environment without a working compiler stack
        pytest.skip(f"torch.compile unavailable here: {type(e).__name__}: {e}")
    assert torch.allclose(out, eager, atol=1e-5)


@pytest.mark.parametrize("cls", GFPGANS)
def test_autocast_bf16_cpu(cls):
    torch.manual_seed(0)
    net = cls(**TINY)
    x = torch.rand(2, 3, 32, 32)
    ref, _ = net(x, randomize_noise=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, rgbs = net(x, randomize_noise=False)
        (out.float().square().mean() + sum(r.float().mean() for r in rgbs)).backward()
    assert torch.isfinite(out).all()
    assert (out.float() - ref).abs().max() < 0.1 * ref.abs().max() + 0.05


@pytest.mark.parametrize("cls", GFPGANS)
def test_channels_last(cls):
    torch.manual_seed(0)
    net = cls(**TINY).eval()
    x = torch.rand(2, 3, 32, 32)
    ref, _ = net(x, randomize_noise=False)
    net = net.to(memory_format=torch.channels_last)  # 5-D modulated weights stay as they are
    assert net.toRGB[0].weight.is_contiguous(memory_format=torch.channels_last)
    out, _ = net(x.contiguous(memory_format=torch.channels_last), randomize_noise=False)
    assert torch.allclose(out, ref, atol=1e-4)
    d = StyleGAN2Discriminator(32, channel_multiplier=1, narrow=1 / 32).to(memory_format=torch.channels_last)
    assert d(x.contiguous(memory_format=torch.channels_last)).shape == (2, 1)
