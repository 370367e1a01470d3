"""Fold GFPGANBilinear weights into the GFPGANv1Clean layout (how the released v1.2/v1.3/v1.4 weights were made).

The bilinear arch stores equalized-lr weights (scaled at run time) and uses leaky ReLU * sqrt(2) with the bias fused
into the activation; the clean arch stores the scaled weights and uses a plain leaky ReLU. Because leaky ReLU is
positively homogeneous, ``sqrt(2) * lrelu(W x + b) = lrelu(sqrt(2) W x + sqrt(2) b)``, so each layer's scale and gain
can be folded into its weights and the two networks compute the same function.

Only the *bilinear* arch is equivalent. GFPGANv1 (the paper's training arch) has exactly the same keys but resamples
with a FIR [1,3,3,1] blur and transposed convolutions; clean uses bilinear interpolation, so a v1 checkpoint
converted with these rules produces wrong images (upstream issue #217) and is refused here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import torch

__all__ = ["UnsupportedConversion", "convert_bilinear_to_clean"]

SQRT2 = math.sqrt(2.0)

ORIGINAL_REFUSAL = (
    "GFPGANv1 ('original') weights cannot be converted to GFPGANv1Clean: the original arch resamples with a FIR "
    "[1,3,3,1] blur and stride-2 transposed convolutions, the clean arch with bilinear interpolation, so no weight "
    "rescaling makes them compute the same function (the official script silently produces garbage, issue #217). "
    "Run GFPGANv1 weights with type GFPGANv1 instead, or fine-tune a clean model."
)


class UnsupportedConversion(ValueError):
    """The source architecture cannot be converted exactly."""


def _fan_in(weight: torch.Tensor) -> int:
    # EqualConv2d (out,in,k,k), EqualLinear (out,in), modulated conv (1,out,in,k,k)
    shape = weight.shape[2:] if weight.ndim == 5 else weight.shape[1:]
    return int(math.prod(shape))


def convert_bilinear_to_clean(
    state_dict: Mapping[str, torch.Tensor],
    narrow: float = 1,
    channel_multiplier: int = 2,
    source_arch: str = "bilinear",
    lr_mlp: float = 0.01,
) -> dict[str, torch.Tensor]:
    """Return a GFPGANv1Clean state dict computing the same function as the given GFPGANBilinear one.

    Args:
        state_dict: GFPGANBilinear weights (``params_ema`` of a checkpoint), any out_size.
        narrow / channel_multiplier: the arch options of the checkpoint (kept for the CLI and sanity checks: every
            scale is derived from the stored shapes, so they do not change the result).
        source_arch: must be "bilinear"; "original" (GFPGANv1) is refused with an explanation.
        lr_mlp: the mapping network learning-rate multiplier the bilinear model was built with (official 0.01).
    Returns:
        A new dict of float tensors in the clean key layout.
    """
    if source_arch == "original":
        raise UnsupportedConversion(ORIGINAL_REFUSAL)
    if source_arch != "bilinear":
        raise UnsupportedConversion(f"source_arch must be 'bilinear' (or 'original', refused), got {source_arch!r}")
    if "stylegan_decoder.style_conv1.activate.bias" not in state_dict:
        raise UnsupportedConversion(
            "This does not look like GFPGANBilinear/GFPGANv1 weights "
            "(no 'stylegan_decoder.style_conv1.activate.bias'); is it already a clean state dict?"
        )
    del narrow, channel_multiplier  # documented above: scales come from the stored shapes
    sd = {k: v.detach().float() for k, v in state_dict.items()}
    out: dict[str, torch.Tensor] = {}

    def scale_of(weight: torch.Tensor) -> float:
        return 1 / math.sqrt(_fan_in(weight))

    for key, value in sd.items():
        dec = key.startswith("stylegan_decoder.")
        name = key[len("stylegan_decoder.") :] if dec else key

        # Decoder mapping network: EqualLinear j (fused lrelu) -> Linear 2j-1 followed by LeakyReLU.
        if m := re.fullmatch(r"style_mlp\.(\d+)\.(weight|bias)", name):
            j, what = int(m.group(1)), m.group(2)
            factor = (lr_mlp * scale_of(value) if what == "weight" else lr_mlp) * SQRT2
            out[f"stylegan_decoder.style_mlp.{2 * j - 1}.{what}"] = value * factor
        elif dec and name.endswith("modulated_conv.modulation.weight"):
            out[key] = value * scale_of(value)
        elif dec and name.endswith("modulated_conv.weight"):
            out[key] = value * scale_of(value)
        elif dec and re.fullmatch(r"(style_conv1|style_convs\.\d+)\.weight", name):
            out[key] = value * SQRT2  # noise strength: clean adds noise after the sqrt(2) gain
        elif dec and name.endswith(".activate.bias"):
            out[key.replace(".activate.bias", ".bias")] = (value * SQRT2).view(1, -1, 1, 1)
        elif dec:  # modulation bias, to_rgb bias, constant input, noise buffers
            out[key] = value.clone()

        # U-Net: ConvLayer / ConvUpLayer with fused lrelu -> conv followed by plain lrelu.
        elif m := re.fullmatch(r"(conv_body_first|final_conv)\.(0\.weight|1\.bias)", name):
            what = "weight" if m.group(2) == "0.weight" else "bias"
            factor = scale_of(value) * SQRT2 if what == "weight" else SQRT2
            out[f"{m.group(1)}.{what}"] = value * factor
        elif m := re.fullmatch(r"(conv_body_(?:down|up)\.\d+)\.(.+)", name):
            block, rest = m.groups()
            if rest == "conv1.0.weight":
                out[f"{block}.conv1.weight"] = value * scale_of(value) * SQRT2
            elif rest == "conv1.1.bias":
                out[f"{block}.conv1.bias"] = value * SQRT2
            elif rest in ("conv2.1.weight", "conv2.weight"):  # down (blur-free ConvLayer) / up (ConvUpLayer)
                out[f"{block}.conv2.weight"] = value * scale_of(value)
            elif rest in ("conv2.2.bias", "conv2.activation.bias"):
                out[f"{block}.conv2.bias"] = value.clone()
            elif rest in ("skip.1.weight", "skip.weight"):
                out[f"{block}.skip.weight"] = value * scale_of(value) / SQRT2
            else:
                raise UnsupportedConversion(f"Unexpected U-Net key {key!r}")
        elif m := re.fullmatch(r"(condition_(?:scale|shift)\.\d+)\.([02])\.(weight|bias)", name):
            block, idx, what = m.groups()
            gain = SQRT2 if idx == "0" else 1.0  # ScaledLeakyReLU after conv 0 -> plain LeakyReLU
            out[key] = value * (scale_of(value) * gain if what == "weight" else gain)
        elif re.fullmatch(r"toRGB\.\d+\.weight|final_linear\.weight", name):
            out[key] = value * scale_of(value)
        elif re.fullmatch(r"toRGB\.\d+\.bias|final_linear\.bias", name):
            out[key] = value.clone()
        else:
            raise UnsupportedConversion(f"Unexpected key {key!r}: not a GFPGANBilinear state dict?")
    return out
