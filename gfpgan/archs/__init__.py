"""Network architectures (registered in ``gfpgan.registry.ARCHS``), checkpoint-compatible with the official GFPGAN.

Every module is imported here explicitly (no folder scanning); retinaface and parsenet (the face detector and parser
of whole-image inference) and awing (the landmark network of the LMD metric) register nothing.
"""

from gfpgan.archs import (  # noqa: F401  (registration)
    arcface,
    awing,
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
