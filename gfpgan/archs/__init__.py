"""Network architectures (registered in ``gfpgan.registry.ARCHS``), checkpoint-compatible with the official GFPGAN.

Every module is imported here explicitly (no folder scanning); retinaface and parsenet (the face detector and parser
of whole-image inference) register nothing.
"""

from gfpgan.archs import (  # noqa: F401  (registration)
    arcface,
    contract,
    convert,
    discriminators,
    gfpgan,
    ops,
    parsenet,
    realesrgan,
    retinaface,
    stylegan2,
    stylegan2_bilinear,
    stylegan2_clean,
    vgg,
)
