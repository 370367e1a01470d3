"""GFP-GAN and StyleGAN2 generators: shapes, gradients, freezing, modulation modes, noise control."""

from __future__ import annotations

import pytest
import torch

from gfpgan.archs.gfpgan import GFPGANBilinear, GFPGANv1, GFPGANv1Clean
from gfpgan.archs.stylegan2 import StyleGAN2Generator
from gfpgan.archs.stylegan2_bilinear import StyleGAN2GeneratorBilinear
from gfpgan.archs.stylegan2_clean import StyleGAN2GeneratorClean
from gfpgan.registry import ARCHS, OptionError
from gfpgan.utils.state_dict import save_generator_checkpoint

GFPGANS = [GFPGANv1, GFPGANBilinear, GFPGANv1Clean]
GENERATORS = [StyleGAN2Generator, StyleGAN2GeneratorClean, StyleGAN2GeneratorBilinear]
TINY = dict(num_style_feat=16, channel_multiplier=1, narrow=1 / 32, num_mlp=2, input_is_latent=True, different_w=True)


pytestmark = pytest.mark.usefixtures("single_thread")


def tiny(cls, out_size=32, **kw):
    torch.manual_seed(0)
    return cls(out_size=out_size, **{**TINY, "fix_decoder": False, **kw})


@pytest.mark.parametrize("cls", GFPGANS)
@pytest.mark.parametrize("out_size", [32, 64, 128])
def test_gfpgan_shapes(cls, out_size):
    net = tiny(cls, out_size, sft_half=True)
    image, rgbs = net(torch.rand(1, 3, out_size, out_size) * 2 - 1)
    assert image.shape == (1, 3, out_size, out_size)
    assert [r.shape[-1] for r in rgbs] == [2**i for i in range(3, out_size.bit_length())]
    assert all(r.shape[:2] == (1, 3) for r in rgbs)
    image, rgbs = net(torch.zeros(1, 3, out_size, out_size), return_rgb=False, weight=0.5)  # old GFPGANer kwarg
    assert rgbs == [] and image.shape == (1, 3, out_size, out_size)


@pytest.mark.parametrize("cls", GFPGANS)
def test_gradients_reach_input_and_all_trainable_params(cls):
    net = tiny(cls, sft_half=True)
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    image, rgbs = net(x, randomize_noise=False)
    (image.square().mean() + sum(r.mean() for r in rgbs)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # style_mlp is unused with input_is_latent (as upstream); everything else gets a gradient
    no_grad = [n for n, p in net.named_parameters() if p.grad is None and "style_mlp" not in n]
    assert no_grad == []


@pytest.mark.parametrize("cls", GFPGANS)
def test_fix_decoder(cls):
    net = tiny(cls, fix_decoder=True)
    frozen = {n for n, p in net.named_parameters() if not p.requires_grad}
    assert frozen == {n for n, _ in net.named_parameters() if n.startswith("stylegan_decoder.")}
    assert frozen


@pytest.mark.parametrize("cls", GFPGANS)
def test_modulation_modes(cls):
    x = torch.rand(1, 3, 32, 32)
    cs = tiny(cls, modulation="cs-sft")
    full = tiny(cls, modulation="sft")
    none = tiny(cls, modulation="none")
    assert cs.sft_half and not full.sft_half
    # cs-sft predicts as many condition channels as U-Net channels (half the decoder), sft twice as many
    c_unet = cs.toRGB[0].weight.shape[1]
    assert cs.condition_scale[0][2].weight.shape[0] == c_unet
    assert full.condition_scale[0][2].weight.shape[0] == 2 * c_unet
    assert not any(k.startswith("condition_") for k in none.state_dict())
    for net in (cs, full, none):
        image, _ = net(x, randomize_noise=False)
        assert image.shape == (1, 3, 32, 32) and torch.isfinite(image).all()
    # modulation None follows the official sft_half flag
    assert tiny(cls, sft_half=True).modulation == "cs-sft"
    assert tiny(cls).modulation == "sft"
    with pytest.raises(ValueError, match="modulation='sft' contradicts sft_half=True"):
        tiny(cls, modulation="sft", sft_half=True)
    with pytest.raises(ValueError, match="modulation='cs-sft' contradicts sft_half=False"):
        tiny(cls, modulation="cs-sft", sft_half=False)


def test_spatial_modulation_changes_output_only_when_enabled():
    x = torch.rand(1, 3, 32, 32)
    with_sft = tiny(GFPGANv1Clean, modulation="cs-sft")
    without = tiny(GFPGANv1Clean, modulation="none")
    without.load_state_dict({k: v for k, v in with_sft.state_dict().items() if not k.startswith("condition_")})
    a, _ = with_sft(x, randomize_noise=False)
    b, _ = without(x, randomize_noise=False)
    assert not torch.allclose(a, b)


def test_registry_build_coerces_modulation_and_rejects_unknown():
    net = ARCHS.build({"type": "GFPGANv1Clean", "out_size": 32, **TINY, "modulation": "none"}, where="network_g")
    assert net.modulation == "none"
    with pytest.raises(OptionError, match="network_g.modulation"):
        ARCHS.build({"type": "GFPGANv1Clean", "out_size": 32, "modulation": "cssft"}, where="network_g")


@pytest.mark.parametrize("cls", GFPGANS)
def test_deterministic_noise(cls):
    net = tiny(cls, sft_half=True)
    with torch.no_grad():  # noise strengths start at 0: make the noise matter
        for name, p in net.stylegan_decoder.named_parameters():
            if name.endswith(".weight") and p.shape == (1,):
                p.fill_(0.5)
    x = torch.rand(2, 3, 32, 32)
    a, _ = net(x, randomize_noise=False)
    b, _ = net(x, randomize_noise=False)
    assert torch.equal(a, b)
    g1, _ = net(x, noise_generator=torch.Generator().manual_seed(7))
    g2, _ = net(x, noise_generator=torch.Generator().manual_seed(7))
    g3, _ = net(x, noise_generator=torch.Generator().manual_seed(8))
    assert torch.equal(g1, g2) and not torch.allclose(g1, g3)
    r1, _ = net(x)
    r2, _ = net(x)
    assert not torch.allclose(r1, r2)  # default: fresh noise every call (official behaviour)


def test_invalid_sizes_are_reported():
    with pytest.raises(ValueError, match="power of two"):
        GFPGANv1Clean(out_size=48)
    with pytest.raises(ValueError, match="power of two"):
        StyleGAN2Generator(out_size=100)


def test_decoder_load_path(tmp_path):
    net = tiny(GFPGANv1, sft_half=True)
    decoder = StyleGAN2Generator(32, num_style_feat=16, num_mlp=2, channel_multiplier=1, narrow=1 / 32)
    path = save_generator_checkpoint(tmp_path / "decoder.pth", decoder.state_dict(), decoder.state_dict())
    loaded = tiny(GFPGANv1, sft_half=True, decoder_load_path=str(path), fix_decoder=True)
    for k, v in decoder.state_dict().items():
        assert torch.equal(loaded.stylegan_decoder.state_dict()[k], v)
    assert not any(p.requires_grad for p in loaded.stylegan_decoder.parameters())
    assert all(p.requires_grad for n, p in loaded.named_parameters() if not n.startswith("stylegan_decoder."))
    del net


@pytest.mark.parametrize("cls", GENERATORS)
def test_stylegan2_generator_api(cls):
    torch.manual_seed(0)
    g = cls(32, num_style_feat=16, num_mlp=2, channel_multiplier=1, narrow=1 / 32)
    z = torch.randn(3, 16)
    image, latent = g([z], return_latents=True, randomize_noise=False)
    assert image.shape == (3, 3, 32, 32) and latent.shape == (3, g.num_latent, 16)
    mixed, latent = g([z, torch.randn(3, 16)], inject_index=2, return_latents=True, randomize_noise=False)
    assert torch.equal(latent[:, 0], latent[:, 1]) and not torch.equal(latent[:, 1], latent[:, 2])
    w_mean = g.mean_latent(64)
    assert w_mean.shape == (1, 16)
    truncated, _ = g([z], truncation=0.0, truncation_latent=w_mean, randomize_noise=False)
    same, _ = g([w_mean.expand(3, -1)], input_is_latent=True, randomize_noise=False)
    assert torch.allclose(truncated, same, atol=1e-5)
    noise = g.make_noise()
    assert [tuple(n.shape[-2:]) for n in noise] == [(r, r) for r in (4, 8, 8, 16, 16, 32, 32)]
    explicit, _ = g([z], noise=[getattr(g.noises, f"noise{i}") for i in range(g.num_layers)])
    assert torch.equal(explicit, g([z], randomize_noise=False)[0])
    assert g.get_latent(z).shape == (3, 16)
    with pytest.raises(ValueError, match="truncation_latent"):
        g([z], truncation=0.5)


def test_generator_contract_is_checked_when_built():
    """A network_g without the loop's contract fails with one line naming the option and what is missing."""
    from torch import nn

    from gfpgan.archs.contract import check_generator

    class NotAGenerator(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(OptionError, match=r"network_g: NotAGenerator is not a restoration generator: forward\(\) has "
                       r"no 'return_rgb' parameter.*no integer 'out_size'"):  # fmt: skip
        check_generator(NotAGenerator())
    net = ARCHS.build({"type": "GFPGANv1Clean", "out_size": 32, "num_style_feat": 32, "narrow": 0.125}, "network_g")
    assert check_generator(net, pyramid=True) is net and net.out_size == 32
    del net.toRGB
    with pytest.raises(OptionError, match="no 'toRGB' module, which the pyramid loss needs"):
        check_generator(net, pyramid=True)
