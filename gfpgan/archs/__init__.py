"""Network architectures (registered in ``gfpgan.registry.ARCHS``), checkpoint-compatible with the official GFPGAN.

Every module that registers something is imported here explicitly (no folder scanning).
"""

from gfpgan.archs import (  # noqa: F401  (registration)
    arcface,
    convert,
    discriminators,
    gfpgan,
    ops,
    stylegan2,
    stylegan2_bilinear,
    stylegan2_clean,
    vgg,
)
