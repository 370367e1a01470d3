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
