"""The two forms of the modulated convolution (weight modulated per sample vs input scaled) agree, with gradients."""

from __future__ import annotations

import pytest
import torch

from gfpgan.archs.stylegan2 import modulated_conv2d


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_forms_agree(transposed, demodulate):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 8, 6, 6, generator=g, requires_grad=True)
    weight = torch.randn(1, 5, 8, 3, 3, generator=g) / 8
    style = torch.rand(3, 8, generator=g) + 0.5
    outs, grads = [], []
    for fused in (True, False):
        out = modulated_conv2d(x, weight, style, demodulate, 0 if transposed else 1, transposed=transposed, fused=fused)
        (grad,) = torch.autograd.grad(out.square().sum(), x)
        outs.append(out)
        grads.append(grad)
    assert outs[0].shape == outs[1].shape
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("batch", [1, 3])
def test_inference_form_with_gain_bias_and_cached_weight_sums(fused, demodulate, batch):
    """``modconv(x) * gain + bias`` through the inference arguments equals the plain formula in both forms."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 8, 6, 6, generator=g)
    weight = torch.randn(1, 5, 8, 3, 3, generator=g) / 8
    style = torch.rand(batch, 8, generator=g) + 0.5
    bias = torch.randn(5, generator=g)
    expected = modulated_conv2d(x, weight, style, demodulate, 1, fused=False) * 1.7 + bias.view(1, 5, 1, 1)
    sq_sums = weight[0].pow(2).sum([2, 3])
    with torch.no_grad():
        out = modulated_conv2d(
            x, weight, style, demodulate, 1, fused=fused, gain=1.7, bias=bias, weight_sq_sums=sq_sums
        )
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_clean_generator_inference_path_equals_the_training_order():
    """Under no_grad the clean generator fuses passes (gain/bias into the convolution, in-place activations and SFT,
    cached weight sums, skip convolved before upsampling); with autograd on it runs the reference's order. Same
    result, and the cache follows a change of the weights."""
    from gfpgan.archs.gfpgan import GFPGANv1Clean

    torch.manual_seed(0)
    net = GFPGANv1Clean(out_size=32, channel_multiplier=1, narrow=0.25, fix_decoder=False, input_is_latent=True,
                        different_w=True, sft_half=True).eval()  # fmt: skip
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    for memory_format in (torch.contiguous_format, torch.channels_last):
        net = net.to(memory_format=memory_format)
        xf = x.contiguous(memory_format=memory_format)
        with torch.no_grad():
            fast = net(xf, return_rgb=False, randomize_noise=False)[0]
        reference = net(xf, return_rgb=False, randomize_noise=False)[0].detach()  # autograd on: the training path
        torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        for p in net.stylegan_decoder.parameters():
            p.mul_(1.1)  # bumps every weight's version: the cached sums must be recomputed
        fast = net(x, return_rgb=False, randomize_noise=False)[0]
    reference = net(x, return_rgb=False, randomize_noise=False)[0].detach()
    torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-5)
