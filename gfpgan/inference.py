"""Face restoration of whole images or aligned crops with a GFPGAN generator (the official ``GFPGANer`` pipeline).

Pipeline of :meth:`FaceRestorer.enhance` (a whole image):

1. Detect faces (RetinaFace-ResNet50 of ``gfpgan.archs.retinaface``, score > 0.97) and their 5 landmarks (eyes, nose,
   mouth corners), dropping faces whose eyes are closer than 5 px; or take landmarks given by the caller.
2. Align each face: a similarity transform (``cv2.estimateAffinePartial2D``, LMEDS) maps the landmarks onto the FFHQ
   5-point template (scaled to the generator's ``out_size``); ``cv2.warpAffine`` with a gray border (135,133,132).
3. Restore the crops with the generator, in batches: BGR -> RGB, [0,1] -> [-1,1], clamp, round.
4. Paste back: the background is upscaled (Lanczos, or the ``bg_upsampler`` hook); each restored face is warped back
   by the inverse transform (x upscale, +0.5*upscale translation as in facexlib) and alpha-blended with a soft mask:
   the ParseNet face-parsing mask when its weights are available, else an eroded + blurred square.

Deliberate differences from GFPGANer (each documented where it happens):
- ``weight`` is a real fidelity blend (GFPGANer passes its ``weight=0.5`` to the network, which ignores it);
  ``weight=None`` (default) reproduces the official pure restoration.
- Noise is deterministic by default (``seed=0``); ``seed=None`` gives the official fresh noise per call.
- Alpha channels, 16-bit depth and grayscale inputs are preserved (GFPGANer drops alpha, returns 8-bit values for
  16-bit inputs and always returns 3 channels); blended pixels are rounded instead of truncated.
- A network error is raised instead of silently returning the unrestored crop.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence

import cv2
import numpy as np
import torch
from torch import nn

from gfpgan.archs.contract import check_generator
from gfpgan.registry import ARCHS
from gfpgan.utils.weights import get_weights_path

__all__ = [
    "FFHQ_TEMPLATE_512",
    "VERSIONS",
    "FaceRestorer",
    "estimate_alignment",
    "face_template",
    "infer_generator_config",
    "inverse_alignment",
    "load_generator",
    "measure_latency",
    "paste_face",
    "resolve_device",
    "square_face_mask",
    "warp_face",
]

logger = logging.getLogger(__name__)

# Five landmarks (left eye, right eye, nose tip, left / right mouth corner) of FFHQ faces at 512x512, (x, y) in pixels.
FFHQ_TEMPLATE_512 = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.1936],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ],
    dtype=np.float32,
)
CROP_BORDER_VALUE = (135, 133, 132)  # BGR gray of the area outside the image in an aligned crop (8-bit scale)
DETECTION_THRESHOLD = 0.97
MIN_EYE_DISTANCE_PX = 5.0
# ParseNet's 19 classes: 0 background, 14 neck, 16 cloth, 17 hair, 18 hat are outside the face mask.
PARSE_BACKGROUND_CLASSES = (0, 14, 16, 17, 18)

# Official weight versions: file key in gfpgan.utils.weights.KNOWN_WEIGHTS, arch, channel multiplier.
VERSIONS: dict[str, tuple[str, str, int]] = {
    "1": ("GFPGANv1", "original", 1),
    "1.2": ("GFPGANCleanv1-NoCE-C2", "clean", 2),
    "1.3": ("GFPGANv1.3", "clean", 2),
    "1.4": ("GFPGANv1.4", "clean", 2),
}
# The official API's arch names (GFPGANer(arch=...)) and the registered generator each one builds.
ARCH_TYPES = {"clean": "GFPGANv1Clean", "original": "GFPGANv1", "bilinear": "GFPGANBilinear"}
# Decoder channels at resolutions >= 64 are base * channel_multiplier * narrow (StyleGAN2 table).
_DECODER_BASE_CHANNELS = {64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}


# ----------------------------------------------------------------------------------------------------------------------
# Geometry


def face_template(out_size: int = 512) -> np.ndarray:
    """The FFHQ 5-point template scaled to an ``out_size`` x ``out_size`` crop: (5,2) float32, (x, y) pixels."""
    return FFHQ_TEMPLATE_512 * np.float32(out_size / 512.0)


def estimate_alignment(landmarks: np.ndarray, out_size: int = 512) -> np.ndarray:
    """Similarity transform (2,3) float64 mapping image coordinates onto the aligned crop.

    Args:
        landmarks: (5,2) (x, y) in image pixels, ordered left eye, right eye, nose, left and right mouth corner.
        out_size: side of the aligned crop.
    """
    landmarks = np.asarray(landmarks, dtype=np.float32).reshape(5, 2)
    # LMEDS to match the skimage-style estimate facexlib uses (robust to one bad landmark).
    matrix, _ = cv2.estimateAffinePartial2D(landmarks, face_template(out_size), method=cv2.LMEDS)
    if matrix is None:
        raise ValueError(f"could not fit a similarity transform to the landmarks {landmarks.tolist()}.")
    return matrix


def warp_face(img: np.ndarray, affine: np.ndarray, out_size: int, border_value: Sequence[float] | None = None):
    """Aligned crop (out_size, out_size, C) of ``img`` (H,W,C, any dtype) under ``affine`` (2,3); bilinear.

    ``border_value`` defaults to the official gray (135,133,132), rescaled for 16-bit images.
    """
    if border_value is None:
        scale = 65535 / 255 if img.dtype == np.uint16 else (1 / 255 if img.dtype.kind == "f" else 1)
        border_value = tuple(v * scale for v in CROP_BORDER_VALUE)
    return cv2.warpAffine(
        img, affine, (out_size, out_size), borderMode=cv2.BORDER_CONSTANT, borderValue=tuple(border_value)
    )


def inverse_alignment(affine: np.ndarray, upscale: float) -> np.ndarray:
    """Inverse of ``affine`` (crop -> upscaled image), (2,3) float64.

    As facexlib: the inverse is multiplied by ``upscale`` and, when upscale > 1, translated by ``0.5 * upscale``
    (the exact pixel-centre correction would be ``0.5 * upscale - 0.5``; the official offset is kept so pasted
    results match GFPGANer).
    """
    inverse = cv2.invertAffineTransform(affine) * upscale
    if upscale > 1:
        inverse[:, 2] += 0.5 * upscale
    return inverse


def square_face_mask(face_size: int, inverse: np.ndarray, out_hw: tuple[int, int], upscale: float) -> np.ndarray:
    """Feathered mask (H,W) float32 in [0,1] of the square crop warped into the output image.

    The warped square is eroded by ``2*upscale`` px (its interpolated edge), eroded again by ``2*w`` and blurred by a
    Gaussian of size ``2*w+1`` where ``w = sqrt(face area) / 20``, so the face fades out inside its crop.
    """
    h, w = out_hw
    ones = np.ones((face_size, face_size), dtype=np.float32)
    inv_mask = cv2.warpAffine(ones, inverse, (w, h))
    edge = max(int(2 * upscale), 1)
    inv_mask = cv2.erode(inv_mask, np.ones((edge, edge), np.uint8))
    w_edge = int(float(inv_mask.sum()) ** 0.5) // 20
    if w_edge > 0:
        inv_mask = cv2.erode(inv_mask, np.ones((2 * w_edge, 2 * w_edge), np.uint8))
        inv_mask = cv2.GaussianBlur(inv_mask, (2 * w_edge + 1, 2 * w_edge + 1), 0)
    return inv_mask


def paste_face(background: np.ndarray, face: np.ndarray, inverse: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Blend ``face`` (S,S,3) warped by ``inverse`` (2,3) into ``background`` (H,W,3) float32 with ``mask`` (H,W).

    Returns the new background, float32, same value scale as the inputs.
    """
    h, w = background.shape[:2]
    warped = cv2.warpAffine(face.astype(np.float32), inverse, (w, h))
    alpha = mask[:, :, None]
    return alpha * warped + (1.0 - alpha) * background


def _centre_index(boxes: Sequence[np.ndarray], h: int, w: int) -> int:
    """Index of the box (x0,y0,x1,y1,...) whose centre is closest to the image centre."""
    centre = np.array([w / 2, h / 2])
    dists = [np.linalg.norm(np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]) - centre) for b in boxes]
    return int(np.argmin(dists))


# ----------------------------------------------------------------------------------------------------------------------
# Image representation: every input becomes BGR (H,W,3) of its own dtype + optional alpha; converted back at the end.


def _max_value(dtype: np.dtype) -> float:
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    raise TypeError(f"images must be uint8 or uint16 numpy arrays, got {dtype}.")


def _split_image(img: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """(bgr (H,W,3), alpha (H,W) or None, is_gray) of an OpenCV-style image (H,W), (H,W,1), (H,W,3) or (H,W,4)."""
    if not isinstance(img, np.ndarray):
        raise TypeError(f"expected a numpy image (H,W[,C]) as read by cv2.imread, got {type(img).__name__}.")
    _max_value(img.dtype)
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        return cv2.cvtColor(img.reshape(img.shape[:2]), cv2.COLOR_GRAY2BGR), None, True
    if img.ndim == 3 and img.shape[2] == 3:
        return img, None, False
    if img.ndim == 3 and img.shape[2] == 4:
        return np.ascontiguousarray(img[:, :, :3]), img[:, :, 3], False
    raise ValueError(f"unsupported image shape {img.shape}; expected (H,W), (H,W,1), (H,W,3) or (H,W,4).")


def _to_dtype(img: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Round and clip a float image to ``dtype`` (uint8 / uint16)."""
    return np.clip(np.rint(img), 0, _max_value(dtype)).astype(dtype)


def _gray3(img: np.ndarray) -> np.ndarray:
    """BGR image -> its luma replicated in three channels (same dtype)."""
    return cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


# ----------------------------------------------------------------------------------------------------------------------
# Generator construction from a checkpoint


def infer_generator_config(state_dict: Mapping[str, torch.Tensor]) -> tuple[str, dict]:
    """(arch, constructor kwargs) of the GFPGAN generator that produced ``state_dict``.

    Clean checkpoints have plain convs (``conv_body_first.weight``); GFPGANv1 and GFPGANBilinear share one key layout
    with ConvLayer indices (``conv_body_first.0.weight``) and cannot be told apart by keys, so ``"original"`` is
    returned for both (pass ``arch="bilinear"`` explicitly for a bilinear checkpoint). Shapes give ``out_size``
    (the largest noise buffer), ``narrow`` (constant input channels / 512), ``channel_multiplier`` (the last ToRGB's
    input channels; irrelevant and set to 2 when out_size <= 32), ``num_style_feat``, ``num_mlp``, ``different_w`` and
    ``sft_half`` (``modulation="none"`` for a checkpoint without condition networks).
    """
    if "conv_body_first.weight" in state_dict:
        arch = "clean"
    elif "conv_body_first.0.weight" in state_dict:
        arch = "original"
    else:
        sample = ", ".join(list(state_dict)[:5])
        raise ValueError(
            f"not a GFPGAN generator state dict: no 'conv_body_first.weight' (clean) or 'conv_body_first.0.weight' "
            f"(original/bilinear) key; first keys: {sample}."
        )
    try:
        noises = [v for k, v in state_dict.items() if re.fullmatch(r"stylegan_decoder\.noises\.noise\d+", k)]
        out_size = max(int(v.shape[-1]) for v in noises)
        narrow = state_dict["stylegan_decoder.constant_input.weight"].shape[1] / 512
        num_style_feat = int(state_dict["stylegan_decoder.style_conv1.modulated_conv.modulation.weight"].shape[1])
        mlp_ids = {m.group(1) for k in state_dict if (m := re.match(r"stylegan_decoder\.style_mlp\.(\d+)\.weight", k))}
        num_latent = 2 * int(math.log2(out_size)) - 2
        different_w = int(state_dict["final_linear.weight"].shape[0]) == num_latent * num_style_feat
        if "condition_scale.0.0.weight" in state_dict:
            scale_in, scale_out = (state_dict[f"condition_scale.0.{i}.weight"].shape[0] for i in (0, 2))
            modulation = "cs-sft" if scale_in == scale_out else "sft"
        else:  # an ablation without spatial modulation
            modulation = "none"
        last_rgb = max(int(m.group(1)) for k in state_dict if (m := re.match(r"stylegan_decoder\.to_rgbs\.(\d+)\.", k)))
        rgb_channels = int(state_dict[f"stylegan_decoder.to_rgbs.{last_rgb}.modulated_conv.weight"].shape[2])
    except (KeyError, ValueError) as e:
        raise ValueError(f"GFPGAN generator state dict lacks an expected entry ({e}); is it a full checkpoint?") from e
    channel_multiplier = 2
    if out_size in _DECODER_BASE_CHANNELS:
        matches = [cm for cm in (1, 2, 3, 4) if int(_DECODER_BASE_CHANNELS[out_size] * cm * narrow) == rgb_channels]
        if not matches:
            raise ValueError(
                f"cannot infer channel_multiplier: last ToRGB has {rgb_channels} input channels at {out_size} px, "
                f"narrow {narrow}; pass channel_multiplier explicitly."
            )
        channel_multiplier = matches[0]
    kwargs = dict(
        out_size=out_size,
        num_style_feat=num_style_feat,
        channel_multiplier=channel_multiplier,
        num_mlp=len(mlp_ids),
        input_is_latent=True,
        different_w=different_w,
        narrow=narrow if narrow != int(narrow) else int(narrow),
        sft_half=modulation == "cs-sft",
    )
    if modulation == "none":
        kwargs["modulation"] = modulation
    return arch, kwargs


def _build_generator(arch: str, kwargs: dict) -> nn.Module:
    """The registered generator of ``arch`` (through ``ARCHS``) with the keys its constructor accepts."""
    cls = ARCHS.get(ARCH_TYPES[arch])
    accepted = inspect.signature(cls).parameters
    # Inference never trains the decoder separately: fix_decoder only toggles requires_grad.
    kwargs = {k: v for k, v in {**kwargs, "fix_decoder": False}.items() if k in accepted}
    return check_generator(ARCHS.build({"type": ARCH_TYPES[arch], **kwargs}, where=f"arch {arch!r}"))


def _read_generator_state_dict(source: str | os.PathLike | Mapping) -> dict[str, torch.Tensor]:
    """A generator state dict from a checkpoint file or an in-memory dict (``params_ema`` > ``params`` > raw)."""
    if isinstance(source, Mapping):
        for key in ("params_ema", "params"):
            if isinstance(source.get(key), Mapping):
                source = source[key]
                break
        return {k.removeprefix("module."): v for k, v in source.items()}
    from gfpgan.utils.state_dict import read_state_dict

    return read_state_dict(source, param_key="auto")


def load_generator(
    model_path: str | os.PathLike | Mapping[str, torch.Tensor] | None = None,
    version: str | None = None,
    arch: str | None = None,
    channel_multiplier: int | None = None,
    out_size: int | None = None,
) -> tuple[nn.Module, str]:
    """Build the generator a checkpoint was trained as and load it strictly (CPU, float32, eval mode).

    Args:
        model_path: checkpoint file (``params_ema`` > ``params`` > raw state dict) or a state dict; None: ``version``.
        version: "1" | "1.2" | "1.3" | "1.4" (default "1.3"), located by ``get_weights_path`` (may raise
            ``WeightsNotFoundError`` naming the file, its URL and the directories searched).
        arch: "clean" | "original" | "bilinear" | None (inferred; "original" for original/bilinear keys).
        channel_multiplier, out_size: override the values inferred from the tensor shapes.
    Returns:
        (generator, arch).
    """
    if arch is not None and arch not in ARCH_TYPES:
        raise ValueError(f"arch must be one of {', '.join(ARCH_TYPES)} or None, got {arch!r}.")
    if model_path is None:
        version = "1.3" if version is None else str(version)
        if version not in VERSIONS:
            raise ValueError(f"unknown GFPGAN version {version!r}; choose one of {', '.join(VERSIONS)}.")
        model_path = get_weights_path(VERSIONS[version][0])
    where = "the given state dict" if isinstance(model_path, Mapping) else str(model_path)
    state_dict = _read_generator_state_dict(model_path)
    inferred_arch, kwargs = infer_generator_config(state_dict)
    if arch is not None and (arch == "clean") != (inferred_arch == "clean"):
        raise ValueError(f"{where}: arch={arch!r} was requested but the keys are those of a {inferred_arch} model.")
    arch = arch or inferred_arch
    if channel_multiplier is not None:
        kwargs["channel_multiplier"] = channel_multiplier
    if out_size is not None:
        kwargs["out_size"] = out_size
    net = _build_generator(arch, kwargs)
    from gfpgan.utils.state_dict import CheckpointError, load_weights

    try:
        load_weights(net, state_dict, strict=True)
    except CheckpointError as e:
        raise ValueError(f"{where}: inferred {ARCH_TYPES[arch]}({kwargs}).\n{e}") from e
    return net.eval(), arch


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> cuda if available, else mps if available, else cpu; anything else as ``torch.device``."""
    if str(device) != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {', '.join(_DTYPES)}.")
    return _DTYPES[dtype]


def _background_upsampler(
    bg_upsampler: object, device: torch.device, tile: int
) -> Callable[[np.ndarray, float], np.ndarray] | None:
    """The ``callable(img_bgr, outscale) -> img_bgr`` FaceRestorer calls, from what it was given (see its docstring)."""
    if bg_upsampler is None or callable(bg_upsampler):
        return bg_upsampler
    if hasattr(bg_upsampler, "enhance"):  # the official RealESRGANer returns (image, mode)
        return lambda img, outscale: bg_upsampler.enhance(img, outscale=outscale)[0]
    if isinstance(bg_upsampler, (str, os.PathLike)):
        from gfpgan.upsample import BackgroundUpsampler  # imported here: gfpgan.upsample imports this module

        return BackgroundUpsampler(bg_upsampler, tile=tile, tile_pad=10, pre_pad=0, device=device)
    raise TypeError(
        f"bg_upsampler must be None, a callable(img, outscale), an object with enhance(img, outscale=...) or a "
        f"Real-ESRGAN model name / weights file, got {type(bg_upsampler).__name__}."
    )


# ----------------------------------------------------------------------------------------------------------------------
# The restorer


class FaceRestorer:
    """Detect, align, restore and paste back faces with a GFPGAN generator; a drop-in for ``gfpgan.GFPGANer``.

    Images in and out are OpenCV-style numpy arrays, **BGR, uint8** (as ``GFPGANer``), so tools built on GFPGANer
    can switch; uint16, grayscale (H,W) and BGRA inputs are accepted too and come back in the same format.

    Args:
        model_path: generator checkpoint (``.pth`` with ``params_ema`` / ``params`` / a raw state dict), or a state
            dict itself. When None, ``version`` selects official weights (default "1.3").
        upscale: output scale of the whole image (background and pasted faces).
        arch: "clean" (GFPGANv1Clean: v1.2/1.3/1.4), "original" (GFPGANv1: v1), "bilinear" (GFPGANBilinear), or
            None to infer it from the keys (original and bilinear share keys: None means "original").
        channel_multiplier, out_size: generator shape; None = inferred from the checkpoint's tensor shapes.
        device: "auto" (cuda > mps > cpu), "cpu", "cuda", "mps" or a ``torch.device``.
        dtype: generator dtype (float32, bfloat16, float16 or their names). Detection and parsing stay float32.
        version: "1" | "1.2" | "1.3" | "1.4": official weights located by ``gfpgan.utils.weights.get_weights_path``
            (GFPGANv1 / GFPGANCleanv1-NoCE-C2 / GFPGANv1.3 / GFPGANv1.4).
        bg_upsampler: the background upsampler: a ``callable(img_bgr, outscale) -> img_bgr`` (e.g.
            ``gfpgan.upsample.BackgroundUpsampler``), an object with the official ``enhance(img, outscale=...)``
            (``realesrgan.RealESRGANer``), or a Real-ESRGAN model name / weights file for BackgroundUpsampler
            ("realesrgan" = RealESRGAN_x2plus, as the official CLI; tile ``bg_tile``, tile_pad 10, pre_pad 0, on
            ``device``). The result is resized to exactly ``upscale`` x the input with Lanczos. None: Lanczos only.
        bg_tile: tile size when ``bg_upsampler`` is a name or a file (0 = whole image; the official CLI uses 400).
        seed: deterministic noise: every face gets the same noise maps drawn from ``torch.Generator().manual_seed
            (seed)``, so results do not depend on batching or call order. None: fresh random noise on every call
            (the official, stochastic behaviour).
        use_parse: blend faces with the ParseNet face mask (weights ``parsing_parsenet``); when the weights cannot be
            found a feathered square mask is used instead (logged once).
        batch_size: faces per generator forward; None: 4 on CUDA, 1 on the CPU, where larger batches are slower per
            face (512 px float32, 2 threads: 3.13 s per face at batch 1, 3.58 s at batch 4; docs/benchmarks.md).
        colorize: keep the generator's colour output for grayscale inputs (default: convert back to gray).
        net: an already built generator (its weights are used as they are; ``model_path``/``version`` ignored).
        det_model_path, parse_model_path: explicit detector / parser weight files (default: weights registry).
        channels_last: run the generator in channels_last memory format; None (default) = on the CPU, where
            oneDNN's channels_last convolutions are the faster ones (docs/benchmarks.md), off elsewhere.
        compile: ``torch.compile`` the generator (a one-time compilation, about 70 s on a 2-core CPU at 512 px,
            reported in the log). On the CPU it gains nothing over the default eager path (1.59 s per face either
            way, docs/benchmarks.md); ``gfpgan-infer`` turns it on by itself for long CUDA jobs (``--compile`` /
            ``--no-compile``). If compilation fails (e.g. no compiler for the backend) the restorer warns once and
            runs eagerly.
    """

    def __init__(
        self,
        model_path: str | os.PathLike | Mapping[str, torch.Tensor] | None = None,
        upscale: float = 2,
        arch: str | None = None,
        channel_multiplier: int | None = None,
        out_size: int | None = None,
        device: str | torch.device = "auto",
        dtype: torch.dtype | str = torch.float32,
        version: str | None = None,
        bg_upsampler: Callable[[np.ndarray, float], np.ndarray] | str | os.PathLike | None = None,
        bg_tile: int = 400,
        seed: int | None = 0,
        use_parse: bool = True,
        batch_size: int | None = None,
        colorize: bool = False,
        net: nn.Module | None = None,
        det_model_path: str | os.PathLike | None = None,
        parse_model_path: str | os.PathLike | None = None,
        channels_last: bool | None = None,
        compile: bool = False,
    ) -> None:
        if arch is not None and arch not in ARCH_TYPES:
            raise ValueError(f"arch must be one of {', '.join(ARCH_TYPES)} or None, got {arch!r}.")
        if upscale <= 0:
            raise ValueError(f"upscale must be > 0, got {upscale}.")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.upscale = upscale
        self.device = resolve_device(device)
        if batch_size is None:
            batch_size = 4 if self.device.type == "cuda" else 1
        self.dtype = _resolve_dtype(dtype)
        self.bg_upsampler = _background_upsampler(bg_upsampler, self.device, bg_tile)
        self.seed = seed
        self.use_parse = use_parse
        self.batch_size = batch_size
        self.colorize = colorize
        self.det_model_path = det_model_path
        self.parse_model_path = parse_model_path
        self._detector: nn.Module | None = None
        self._parser: nn.Module | None = None
        self._parser_missing = False

        if net is None:
            net, self.arch = load_generator(model_path, version, arch, channel_multiplier, out_size)
        else:
            self.arch = arch or {v: k for k, v in ARCH_TYPES.items()}.get(type(net).__name__, "clean")
        self.net = net.eval().requires_grad_(False).to(self.device, self.dtype)
        if channels_last is None:
            channels_last = self.device.type == "cpu"
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self._compiled = torch.compile(self.net) if compile else None
        self._compile_reported = False
        self.out_size = check_generator(self.net, "net").out_size
        self._noise_cache: dict[tuple, list[torch.Tensor]] = {}

    # -- construction ----------------------------------------------------------------------------------------------

    def _get_detector(self) -> nn.Module:
        if self._detector is None:
            from gfpgan.archs.retinaface import RetinaFace

            path = get_weights_path("detection_Resnet50_Final", local_path=self.det_model_path)
            detector = RetinaFace()
            state = torch.load(path, map_location="cpu", weights_only=True)
            state = {k.removeprefix("module."): v for k, v in state.items()}
            detector.load_state_dict(state, strict=True)
            self._detector = detector.eval().to(self.device, memory_format=self.memory_format)
        return self._detector

    def _get_parser(self) -> nn.Module | None:
        if self._parser is None and not self._parser_missing:
            from gfpgan.utils.weights import WeightsNotFoundError

            try:
                path = get_weights_path("parsing_parsenet", local_path=self.parse_model_path)
            except WeightsNotFoundError as e:
                logger.warning("face parsing weights unavailable (%s); pasting with a feathered square mask.", e)
                self._parser_missing = True
                return None
            from gfpgan.archs.parsenet import ParseNet

            parser = ParseNet(in_size=512, out_size=512, parsing_ch=19)
            parser.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
            self._parser = parser.eval().fold_batch_norm().to(self.device, memory_format=self.memory_format)
        return self._parser

    # -- detection -------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def detect_landmarks(self, img: np.ndarray, only_center_face: bool = False) -> list[np.ndarray]:
        """5-point landmarks (list of (5,2) float32, image pixels) of the faces in a BGR image, best score first.

        RetinaFace-ResNet50 at the original size, score > 0.97; faces with eyes closer than 5 px are skipped.
        """
        bgr, _, _ = _split_image(img)
        bgr8 = bgr.astype(np.float32) * np.float32(255.0 / _max_value(bgr.dtype))
        dets = self._get_detector().detect_faces(bgr8, DETECTION_THRESHOLD, memory_format=self.memory_format)
        boxes, landmarks = [], []
        for det in dets:
            points = np.asarray(det[5:15], dtype=np.float32).reshape(5, 2)
            if np.linalg.norm(points[0] - points[1]) < MIN_EYE_DISTANCE_PX:
                continue
            boxes.append(det[:4])
            landmarks.append(points)
        if only_center_face and landmarks:
            landmarks = [landmarks[_centre_index(boxes, *bgr.shape[:2])]]
        return landmarks

    # -- restoration -----------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _seeded_noise(self):
        """Temporarily replace the decoder's stored noise buffers by maps drawn from ``seed`` (restored after)."""
        decoder = getattr(self.net, "stylegan_decoder", None)
        noises = getattr(decoder, "noises", None)
        if self.seed is None or noises is None:
            yield
            return
        names = sorted((n for n, _ in noises.named_buffers()), key=lambda n: int(n.removeprefix("noise")))
        key = (self.seed, self.device, self.dtype)
        if key not in self._noise_cache:
            generator = torch.Generator().manual_seed(self.seed)
            self._noise_cache[key] = [
                torch.randn(getattr(noises, n).shape, generator=generator).to(self.device, self.dtype) for n in names
            ]
        saved = [getattr(noises, n) for n in names]
        try:
            for n, value in zip(names, self._noise_cache[key]):
                setattr(noises, n, value)
            yield
        finally:
            for n, value in zip(names, saved):
                setattr(noises, n, value)

    def _generator(self, x: torch.Tensor, randomize_noise: bool) -> torch.Tensor:
        """The generator's forward: compiled when asked (the first call compiles, and says how long it took; a
        compilation that fails, e.g. without a C++ compiler for the CPU backend, falls back to eager once)."""
        if self._compiled is not None:
            start = time.perf_counter()
            first = not self._compile_reported
            if first:
                logger.info("compiling the generator (one-time; about a minute on a 2-core CPU) ...")
            try:
                out = self._compiled(x, return_rgb=False, randomize_noise=randomize_noise)[0]
            except Exception as e:  # noqa: BLE001 - any compiler failure: the eager forward is always correct
                logger.warning("torch.compile failed (%s); running the generator eagerly.", str(e).splitlines()[0])
                self._compiled = None
            else:
                if first:
                    self._compile_reported = True
                    logger.info("generator compiled and run in %.1f s (one-time).", time.perf_counter() - start)
                return out
        return self.net(x, return_rgb=False, randomize_noise=randomize_noise)[0]

    @torch.no_grad()
    def restore_tensor(self, x: torch.Tensor, weight: float | None = None) -> torch.Tensor:
        """Generator forward on a batch with the restorer's noise mode and fidelity blend.

        Args:
            x: (N,3,S,S) float in [-1,1], RGB, aligned faces (S = out_size), any device.
            weight: ``weight * restored + (1 - weight) * x``; None or 1 = pure restoration.
        Returns:
            (N,3,S,S) float32 on the restorer's device, RGB, roughly [-1,1] (not clamped). With a seed, each face's
            result is independent of the other faces in the batch.
        """
        weight = 1.0 if weight is None else float(weight)
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight must be in [0, 1] (1 = pure restoration), got {weight}.")
        x = x.to(self.device, torch.float32)
        with self._seeded_noise():
            x_in = x.to(self.dtype).contiguous(memory_format=self.memory_format)
            out = self._generator(x_in, randomize_noise=self.seed is None).float()
        if weight != 1.0:
            out = weight * out + (1.0 - weight) * x
        return out

    @torch.no_grad()
    def restore_faces(
        self, faces: Sequence[np.ndarray], weight: float | None = None, batch_size: int | None = None
    ) -> list[np.ndarray]:
        """Restore aligned face crops, ``batch_size`` faces per forward.

        Args:
            faces: aligned BGR crops (out_size, out_size, 3), uint8 or uint16 (FFHQ 5-point alignment).
            weight: fidelity blend in pixel space: ``out = weight * restored + (1 - weight) * input``; 1 or None =
                pure restoration (GFPGANer's ``weight`` argument had no effect at all; None reproduces it).
            batch_size: faces per forward (default: the restorer's ``batch_size``). Results do not depend on it.
        Returns:
            restored BGR crops, same shape and dtype as the inputs (clamped to [-1,1], then rounded as GFPGANer).
        """
        batch_size = batch_size or self.batch_size
        size = self.out_size
        for i, face in enumerate(faces):
            if face.ndim != 3 or face.shape != (size, size, 3):
                raise ValueError(f"face {i}: expected an aligned BGR crop ({size},{size},3), got {face.shape}.")
        restored: list[np.ndarray] = []
        for start in range(0, len(faces), batch_size):
            chunk = faces[start : start + batch_size]
            x = torch.from_numpy(np.stack([f[:, :, ::-1].astype(np.float32) / _max_value(f.dtype) for f in chunk]))
            out = self.restore_tensor(x.permute(0, 3, 1, 2) * 2 - 1, weight)  # (N,3,S,S) in [-1,1], RGB
            out = ((out.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).cpu().numpy()[..., ::-1]  # [0,1] BGR
            for face, o in zip(chunk, out):
                restored.append(_to_dtype(o * _max_value(face.dtype), face.dtype))
        return restored

    @torch.no_grad()
    def restore_aligned(
        self, imgs: Sequence[np.ndarray], weight: float | None = None
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Restore already aligned face images (any size; resized bilinearly to out_size), batched.

        Returns (faces, restored): the out_size BGR crops fed to the generator and their restorations (BGR, dtype of
        each input; converted to gray when the input is gray, unless ``colorize``).
        """
        size = self.out_size
        faces, grays = [], []
        for img in imgs:
            bgr, _, is_gray = _split_image(img)  # an alpha channel of an aligned crop is dropped, as GFPGANer
            faces.append(bgr if bgr.shape[:2] == (size, size) else cv2.resize(bgr, (size, size)))
            grays.append(is_gray and not self.colorize)
        restored = self.restore_faces(faces, weight)
        return faces, [_gray3(r) if g else r for r, g in zip(restored, grays)]

    # -- the whole pipeline ----------------------------------------------------------------------------------------

    @torch.no_grad()
    def enhance(
        self,
        img: np.ndarray,
        has_aligned: bool = False,
        only_center_face: bool = False,
        paste_back: bool = True,
        weight: float | None = None,
        landmarks: Sequence[np.ndarray] | None = None,
    ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray | None]:
        """Restore the faces of one image; same signature and results as ``GFPGANer.enhance``.

        Args:
            img: BGR uint8 (H,W,3) as read by ``cv2.imread``; also BGRA, gray (H,W) and uint16.
            has_aligned: ``img`` is already an aligned face (resized bilinearly to out_size); no paste-back.
            only_center_face: keep only the face closest to the image centre.
            paste_back: paste the restored faces into the upscaled image.
            weight: fidelity blend ``weight * restored + (1 - weight) * input`` (see :meth:`restore_faces`).
                Default None = pure restoration, the behaviour of GFPGANer whatever its ``weight`` (0.5 by default,
                ignored by every official arch).
            landmarks: externally supplied 5-point landmarks, one (5,2) (x, y) array per face in image pixels;
                the detector is then not used (nor loaded).
        Returns:
            (cropped_faces, restored_faces, restored_img): aligned input crops and restored crops (out_size square,
            BGR, dtype of ``img``), and the whole restored image (``upscale`` x the input size, same channels and
            dtype as ``img``), None when ``has_aligned`` or not ``paste_back``. Without any face the upscaled
            background is returned.
        """
        if has_aligned:
            faces, restored = self.restore_aligned([img], weight)
            return faces, restored, None
        bgr, alpha, is_gray = _split_image(img)
        size = self.out_size

        if landmarks is None:
            all_landmarks = self.detect_landmarks(bgr, only_center_face)
        else:
            all_landmarks = [np.asarray(p, dtype=np.float32).reshape(5, 2) for p in landmarks]
            if only_center_face and all_landmarks:
                boxes = [np.concatenate([p.min(0), p.max(0)]) for p in all_landmarks]
                all_landmarks = [all_landmarks[_centre_index(boxes, *bgr.shape[:2])]]
        affines = [estimate_alignment(p, size) for p in all_landmarks]
        cropped = [warp_face(bgr, a, size) for a in affines]
        restored = self.restore_faces(cropped, weight) if cropped else []
        if is_gray and not self.colorize:
            restored = [_gray3(r) for r in restored]
        if not paste_back:
            return cropped, restored, None
        return cropped, restored, self.paste_back(bgr, alpha, is_gray, restored, affines)

    def paste_back(
        self,
        bgr: np.ndarray,
        alpha: np.ndarray | None,
        is_gray: bool,
        restored: Sequence[np.ndarray],
        affines: Sequence[np.ndarray],
    ) -> np.ndarray:
        """Upscale the background and blend the restored faces (aligned by ``affines``) into it.

        Returns the image in the input's format: BGR (H*s,W*s,3), gray (H*s,W*s) or BGRA, dtype of ``bgr``.
        """
        h, w = bgr.shape[:2]
        h_up, w_up = int(h * self.upscale), int(w * self.upscale)
        background = bgr if self.bg_upsampler is None else self.bg_upsampler(bgr, self.upscale)
        if background.shape[:2] != (h_up, w_up):
            background = cv2.resize(background, (w_up, h_up), interpolation=cv2.INTER_LANCZOS4)
        out = background.astype(np.float32)
        if out.ndim == 2:
            out = cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)
        out = out[:, :, :3]
        for face, affine in zip(restored, affines):
            inverse = inverse_alignment(affine, self.upscale)
            mask = self._face_mask(face, inverse, (h_up, w_up))
            out = paste_face(out, face, inverse, mask)
        result = _to_dtype(out, bgr.dtype)
        if is_gray and not self.colorize:
            return cv2.cvtColor(result, cv2.COLOR_BGR2GRAY)
        if alpha is not None:
            alpha_up = cv2.resize(alpha, (w_up, h_up), interpolation=cv2.INTER_LINEAR)
            result = np.concatenate([result, alpha_up[:, :, None]], axis=2)
        return result

    @torch.no_grad()
    def _face_mask(self, face: np.ndarray, inverse: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
        """Soft mask (H,W) float32 in [0,1] of one restored face in the output image."""
        parser = self._get_parser() if self.use_parse else None
        if parser is None:
            return square_face_mask(face.shape[0], inverse, out_hw, self.upscale)
        face512 = cv2.resize(face, (512, 512), interpolation=cv2.INTER_LINEAR)
        x = torch.from_numpy(face512[:, :, ::-1].astype(np.float32) / _max_value(face.dtype)).permute(2, 0, 1)
        x = (x[None] * 2 - 1).to(self.device).contiguous(memory_format=self.memory_format)
        labels = parser(x, with_image=False)[0].argmax(dim=1)[0].cpu().numpy()
        mask = np.where(np.isin(labels, PARSE_BACKGROUND_CLASSES), 0.0, 255.0)
        mask = cv2.GaussianBlur(mask, (101, 101), 11)
        mask = cv2.GaussianBlur(mask, (101, 101), 11)
        border = 10  # the crop's own border often holds the gray padding: never paste it
        mask[:border, :] = mask[-border:, :] = 0
        mask[:, :border] = mask[:, -border:] = 0
        mask = cv2.resize(mask / 255.0, face.shape[:2][::-1])
        h, w = out_hw
        return cv2.warpAffine(mask, inverse, (w, h), flags=cv2.INTER_AREA).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------------------
# Latency


def measure_latency(
    dtype: torch.dtype | str = torch.float32,
    device: str | torch.device = "cpu",
    out_size: int = 512,
    channel_multiplier: int = 2,
    narrow: float = 1,
    batch_size: int = 1,
    num_warmup: int = 1,
    num_iters: int = 3,
    num_threads: int | None = None,
) -> dict[str, float]:
    """Per-face latency of the restoration step (generator forward + pre/post-processing) on aligned crops.

    A randomly initialised GFPGANv1Clean of the official shape (512 px, channel multiplier 2 = v1.3/v1.4) is timed;
    weights do not change the cost (``out_size``/``channel_multiplier``/``narrow`` shrink it for smoke tests).
    Returns ``{"ms_per_face", "faces_per_s", "batch_size", "num_iters"}`` (median over ``num_iters`` timed batches
    after ``num_warmup`` untimed ones).
    """
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    torch.manual_seed(0)
    net = _build_generator("clean", dict(out_size=out_size, channel_multiplier=channel_multiplier, narrow=narrow))
    restorer = FaceRestorer(net=net, device=device, dtype=dtype, batch_size=batch_size, use_parse=False)
    rng = np.random.default_rng(0)
    faces = [rng.integers(0, 256, (out_size, out_size, 3), dtype=np.uint8) for _ in range(batch_size)]
    for _ in range(num_warmup):
        restorer.restore_faces(faces)
    times = []
    for _ in range(num_iters):
        if restorer.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        restorer.restore_faces(faces)
        if restorer.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    seconds = float(np.median(times)) / batch_size
    return {"ms_per_face": seconds * 1000, "faces_per_s": 1 / seconds, "batch_size": batch_size, "num_iters": num_iters}
