"""Tiny random networks shared by the inference, CLI and export tests (imported by name: pytest puts tests/ on the
path for tests/conftest.py)."""

from __future__ import annotations

import torch

from gfpgan.archs.gfpgan import GFPGANv1Clean

TINY_CLEAN = dict(channel_multiplier=1, narrow=0.125, num_style_feat=32, different_w=True, sft_half=True)


def tiny_clean(out_size: int = 16, seed: int = 0, noise_strength: float | None = 0.5, **kwargs) -> GFPGANv1Clean:
    """A random GFPGANv1Clean (``input_is_latent``, the released v1.3 options at a tiny width), in eval mode.

    Args:
        out_size: face size (a power of two >= 8).
        seed: ``torch.manual_seed`` before construction, so the weights are the same on every call.
        noise_strength: value of every StyleConv noise strength (``*.weight`` of shape (1,); 0 at construction), so
            the noise mode matters; None keeps the construction's zeros.
        kwargs: override :data:`TINY_CLEAN`.
    """
    torch.manual_seed(seed)
    net = GFPGANv1Clean(out_size=out_size, input_is_latent=True, **{**TINY_CLEAN, **kwargs})
    if noise_strength is not None:
        with torch.no_grad():
            for name, p in net.named_parameters():
                if name.endswith(".weight") and p.shape == (1,):
                    p.fill_(noise_strength)
    return net.eval()
