"""Background upsampling with Real-ESRGAN: the ``bg_upsampler`` of whole-image face restoration.

:class:`BackgroundUpsampler` is a drop-in for the official ``RealESRGANer`` as GFPGANer uses it
(``bg_upsampler.enhance(img, outscale=upscale)[0]``) and a ``callable(img_bgr, outscale) -> img_bgr`` for
``FaceRestorer(bg_upsampler=...)``. Pipeline of :meth:`BackgroundUpsampler.enhance`:

1. Split the OpenCV image as gfpgan.inference does: BGR uint8 / uint16, gray (H,W) and BGRA accepted.
2. BGR -> RGB, divide by 255 (65535 for uint16): (1,3,H,W) float32 in [0,1], the networks' trained range.
3. Reflect-pad ``pre_pad`` pixels on every side, then on the right / bottom up to the network's ``size_multiple``
   (2 for the x2 RRDBNet, which pixel-unshuffles its input).
4. Run the network on the whole image (``tile=0``) or on tiles of ``tile`` x ``tile`` pixels, each read with
   ``tile_pad`` pixels of context and blended into the output (below). The network runs in ``dtype``; tiles are
   accumulated in float32.
5. Crop the padding, clamp to [0,1], RGB -> BGR, resize to ``outscale`` x the input with Lanczos when it differs from
   the network's scale, round to the input's dtype; a gray input comes back gray, an alpha channel is resized
   bilinearly and re-attached (as gfpgan.inference treats alpha).

Tiles. A convolution near a tile's cut sees zeros where the whole image has pixels, so a tile's output is wrong near
its cut, less and less with the distance from it. Each tile is therefore run on its core plus ``tile_pad`` pixels of
context, and only its core plus ``tile_pad // 4`` pixels is used: across a seam the two tiles are cross-faded with
linear weights over ``2 * (tile_pad // 4)`` pixels (input units), so there is no step at the seam and every pixel kept
is at least ``tile_pad - tile_pad // 4`` pixels from any cut. Tiled equals untiled up to float rounding (~1e-6) once
that distance reaches the network's receptive radius (SRVGGNetCompact: ``num_conv + 2`` input pixels, 34 for
realesr-general-x4v3). RRDBNet's radius (23 blocks: ~350 input pixels at x4, ~700 at x2) exceeds any practical pad,
so there the difference is small but not zero: tests/unit/test_realesrgan.py measures it on seeded weights (tile 32,
pad 10: about 1e-3 of the [0,1] range; pad 20: 3e-6). ``tile_pad=0`` gives the official hard crop without context.

Deliberate differences from RealESRGANer (with ``pre_pad=0`` and ``tile=0`` or ``tile_pad=0`` the images are equal):
- ``pre_pad`` pads all four sides (the official pads only the right and bottom, so its top/left borders get the
  artifacts that padding is meant to avoid).
- Padded tiles are cross-faded (above), not cut at the core (a hard step at every seam).
- uint16 is recognised by its dtype (the official guesses from ``max > 256``), and the ``outscale`` resize runs on the
  float result before one rounding (the official rounds, then resizes the uint8 image).
- Alpha is resized bilinearly (the official runs it through the network by default); gray stays gray (as official).
- ``enhance`` returns ``(image, None)`` (the official returns the mode string "RGB"/"RGBA"/"L" as second item).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from gfpgan.inference import _max_value, _split_image, _to_dtype, resolve_device
from gfpgan.registry import ARCHS
from gfpgan.utils.state_dict import load_weights, read_state_dict
from gfpgan.utils.weights import get_weights_path

__all__ = ["KNOWN_MODELS", "BackgroundUpsampler", "infer_upsampler_config"]

logger = logging.getLogger(__name__)

# The released Real-ESRGAN models: weights file (a KNOWN_WEIGHTS name of gfpgan.utils.weights) -> network options.
KNOWN_MODELS: dict[str, dict[str, Any]] = {
    "RealESRGAN_x4plus": {"type": "RRDBNet", "num_in_ch": 3, "num_out_ch": 3, "scale": 4, "num_feat": 64,
                          "num_block": 23, "num_grow_ch": 32},
    "RealESRGAN_x2plus": {"type": "RRDBNet", "num_in_ch": 3, "num_out_ch": 3, "scale": 2, "num_feat": 64,
                          "num_block": 23, "num_grow_ch": 32},
    "realesr-general-x4v3": {"type": "SRVGGNetCompact", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 64,
                             "num_conv": 32, "upscale": 4, "act_type": "prelu"},
    "realesr-animevideov3": {"type": "SRVGGNetCompact", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 64,
                             "num_conv": 16, "upscale": 4, "act_type": "prelu"},
}  # fmt: skip
# ``--bg_upsampler realesrgan`` of the official inference_gfpgan.py means RealESRGAN_x2plus.
ALIASES = {"realesrgan": "RealESRGAN_x2plus"}

# Padded tiles are cross-faded over 2 * (tile_pad // _BLEND_DIVISOR) pixels, so every pixel kept is at least
# tile_pad - tile_pad // _BLEND_DIVISOR pixels from its tile's cut. Measured on seeded networks (tile 32, pad 10, 100x75
# image, max |tiled - untiled|): fading over the whole pad (divisor 2) is 5-40x worse than the official hard crop
# (no fade); fading over half of it (4) is within 0.7-1.2x of the crop and has no step at the seams.
_BLEND_DIVISOR = 4
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def infer_upsampler_config(state: Mapping[str, torch.Tensor], where: str = "the state dict") -> dict[str, Any]:
    """The ARCHS option block (``{"type": ..., **kwargs}``) of a Real-ESRGAN state dict, read from its key layout.

    RRDBNet: the scale comes from the stem's input channels (3: x4, 12: x2, 48: x1 for 3-channel images).
    SRVGGNetCompact: the activation must be PReLU (ReLU / LeakyReLU layers have no weights to recognise them by);
    pass the option block yourself for those.
    """
    if "conv_first.weight" in state:
        out_ch = state["conv_last.weight"].shape[0]
        stem_in, num_feat = state["conv_first.weight"].shape[1], state["conv_first.weight"].shape[0]
        scales = {out_ch: 4, 4 * out_ch: 2, 16 * out_ch: 1}
        if stem_in not in scales:
            raise ValueError(
                f"{where}: RRDBNet stem takes {stem_in} channels, which is not 1, 4 or 16 x the {out_ch} output "
                "channels; pass the network options (arch=...) yourself."
            )
        blocks = {int(k.split(".")[1]) for k in state if k.startswith("body.")}
        return {"type": "RRDBNet", "num_in_ch": out_ch, "num_out_ch": out_ch, "scale": scales[stem_in],
                "num_feat": num_feat, "num_block": len(blocks),
                "num_grow_ch": state["body.0.rdb1.conv1.weight"].shape[0]}  # fmt: skip
    if "body.0.weight" in state:
        convs = sorted(int(k.split(".")[1]) for k, v in state.items() if k.startswith("body.") and v.ndim == 4)
        if "body.1.weight" not in state:
            raise ValueError(
                f"{where}: an SRVGGNetCompact without PReLU weights (ReLU or LeakyReLU); its activation cannot be "
                "read from the keys: pass arch={'type': 'SRVGGNetCompact', ..., 'act_type': ...}."
            )
        in_ch, num_feat = state["body.0.weight"].shape[1], state["body.0.weight"].shape[0]
        upscale = math.isqrt(state[f"body.{convs[-1]}.weight"].shape[0] // in_ch)
        return {"type": "SRVGGNetCompact", "num_in_ch": in_ch, "num_out_ch": in_ch, "num_feat": num_feat,
                "num_conv": len(convs) - 2, "upscale": upscale, "act_type": "prelu"}  # fmt: skip
    raise ValueError(
        f"{where}: neither an RRDBNet (conv_first.weight) nor an SRVGGNetCompact (body.0.weight) state dict "
        f"(first keys: {', '.join(list(state)[:5])}); is it a Real-ESRGAN model?"
    )


def _resolve_dtype(dtype: torch.dtype | str, device: torch.device) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":  # half precision where it is fast (the official GFPGAN CLI runs Real-ESRGAN with half=True)
        return torch.float16 if device.type in ("cuda", "mps") else torch.float32
    if dtype not in _DTYPES:
        raise ValueError(f"BackgroundUpsampler: unknown dtype {dtype!r}; choose auto, {', '.join(_DTYPES)}.")
    return _DTYPES[dtype]


def _pad(x: torch.Tensor, left: int, right: int, top: int, bottom: int) -> torch.Tensor:
    """Reflect padding; edge replication where the image is too small to reflect (reflect needs pad < size)."""
    if not (left or right or top or bottom):
        return x
    h, w = x.shape[-2:]
    mode = "reflect" if max(left, right) < w and max(top, bottom) < h else "replicate"
    return F.pad(x, (left, right, top, bottom), mode=mode)


def _blend_weights(start: int, end: int, core: tuple[int, int], length: int, overlap: int, scale: int) -> torch.Tensor:
    """1-D weights (float32, ``(end-start)*scale`` output pixels) of one tile along one axis.

    The tile's core is ``core`` = [a, b) and its kept span [start, end) = core widened by ``overlap`` (input
    pixels, clipped to [0, length)). On a side with a neighbour the weight ramps linearly across [a-overlap, a+overlap)
    (resp. [b-overlap, b+overlap)) in output pixels, so the two tiles' weights sum to 1 there; 1 elsewhere.
    """
    u = torch.arange(start * scale, end * scale, dtype=torch.float32) + 0.5
    w = torch.ones_like(u)
    if overlap == 0:
        return w
    width = 2.0 * overlap * scale
    a, b = core
    if a > 0:
        w = torch.minimum(w, (u - (a - overlap) * scale) / width)
    if b < length:
        w = torch.minimum(w, ((b + overlap) * scale - u) / width)
    return w


class BackgroundUpsampler:
    """Upsample whole images with a Real-ESRGAN network, whole or in blended tiles.

    Args:
        model: a released model (``RealESRGAN_x2plus`` (default; ``"realesrgan"`` is an alias, the official
            ``--bg_upsampler realesrgan``), ``RealESRGAN_x4plus``, ``realesr-general-x4v3``, ``realesr-animevideov3``),
            its weights located by ``gfpgan.utils.weights.get_weights_path`` (offline directory, cache, download); or
            the path of a weights file (``params_ema`` > ``params`` > raw state dict), its network read from the keys.
        model_path: explicit weights file for a released ``model`` name (like ``--model-path``).
        arch: the network's option block (``{"type": "SRVGGNetCompact", ...}``), when it cannot be read from the keys.
        net: an already built network (its weights are used as they are; ``model`` is ignored). It must take
            (N,3,H,W) float RGB in [0,1] and have ``scale`` (and ``size_multiple`` if H, W must be multiples of it).
        tile: tile size in input pixels; 0 = whole image (fastest, most memory). The official GFPGAN CLI uses 400.
        tile_pad: context pixels read around each tile; half of it is cross-faded with the neighbour (see module doc).
        pre_pad: reflect padding around the whole image against border artifacts (the GFPGAN CLI uses 0).
        device: "auto" (cuda > mps > cpu) or a device.
        dtype: network precision: "auto" (float16 on cuda / mps, else float32), "float32", "float16", "bfloat16".
    """

    def __init__(
        self,
        model: str | os.PathLike = "RealESRGAN_x2plus",
        model_path: str | os.PathLike | None = None,
        arch: Mapping[str, Any] | None = None,
        net: nn.Module | None = None,
        tile: int = 0,
        tile_pad: int = 10,
        pre_pad: int = 10,
        device: str | torch.device = "auto",
        dtype: torch.dtype | str = "auto",
    ) -> None:
        if tile < 0 or tile_pad < 0 or pre_pad < 0:
            raise ValueError(
                f"BackgroundUpsampler: tile ({tile}), tile_pad ({tile_pad}), pre_pad ({pre_pad}) must be >= 0."
            )
        self.device = resolve_device(device)
        self.dtype = _resolve_dtype(dtype, self.device)
        if net is None:
            net, self.name = self._load(model, model_path, arch)
        else:
            self.name = type(net).__name__
        if not isinstance(getattr(net, "scale", None), int):
            raise ValueError(f"BackgroundUpsampler: {type(net).__name__} has no integer 'scale' attribute; set one.")
        self.net = net.eval().requires_grad_(False).to(self.device, self.dtype)
        self.scale: int = net.scale
        self.size_multiple: int = getattr(net, "size_multiple", 1)
        m = self.size_multiple
        # tiles and their context start on the pixel-unshuffle grid, or tiled and untiled would differ everywhere
        self.tile = -(-tile // m) * m
        self.tile_pad = -(-tile_pad // m) * m
        self.pre_pad = pre_pad

    @staticmethod
    def _load(
        model: str | os.PathLike, model_path: str | os.PathLike | None, arch: Mapping[str, Any] | None
    ) -> tuple[nn.Module, str]:
        name = ALIASES.get(str(model), str(model))
        if name in KNOWN_MODELS:
            path = get_weights_path(name, local_path=model_path)
            spec = dict(arch) if arch is not None else KNOWN_MODELS[name]
        elif os.path.isfile(model):
            path, spec, name = model, arch, os.path.basename(model)
        else:
            raise ValueError(
                f"BackgroundUpsampler: {model!r} is neither a known model ({', '.join([*ALIASES, *KNOWN_MODELS])}) "
                "nor an existing weights file."
            )
        state = read_state_dict(path, param_key="auto")  # params_ema (RRDBNet files) > params (SRVGG files)
        spec = dict(spec) if spec is not None else infer_upsampler_config(state, where=str(path))
        net = ARCHS.build(spec, where=f"background upsampler {name}")
        return load_weights(net, state, strict=True), name

    # -- tensors ---------------------------------------------------------------------------------------------------

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.to(self.dtype)).float()

    def _tiled(self, x: torch.Tensor) -> torch.Tensor:
        """The network over blended tiles of ``x`` (N,3,H,W), H and W multiples of ``size_multiple``."""
        h, w = x.shape[-2:]
        s, pad, overlap = self.scale, self.tile_pad, min(self.tile_pad // _BLEND_DIVISOR, self.tile // 2)
        out: torch.Tensor | None = None  # (N,C_out,s*H,s*W) float32, allocated once the first tile tells C_out
        total = torch.zeros((h * s, w * s), dtype=torch.float32, device=x.device)
        rows = [(a, min(a + self.tile, h)) for a in range(0, h, self.tile)]
        cols = [(a, min(a + self.tile, w)) for a in range(0, w, self.tile)]
        for i, (y0, y1) in enumerate(rows):
            for j, (x0, x1) in enumerate(cols):
                # read: core + tile_pad of context; keep: core + overlap (both clipped to the image)
                ry0, ry1, rx0, rx1 = max(y0 - pad, 0), min(y1 + pad, h), max(x0 - pad, 0), min(x1 + pad, w)
                ky0, ky1 = max(y0 - overlap, 0), min(y1 + overlap, h)
                kx0, kx1 = max(x0 - overlap, 0), min(x1 + overlap, w)
                result = self._forward(x[..., ry0:ry1, rx0:rx1])
                if out is None:
                    out = result.new_zeros((*result.shape[:2], h * s, w * s))
                kept = result[..., (ky0 - ry0) * s : (ky1 - ry0) * s, (kx0 - rx0) * s : (kx1 - rx0) * s]
                weight = torch.outer(
                    _blend_weights(ky0, ky1, (y0, y1), h, overlap, s), _blend_weights(kx0, kx1, (x0, x1), w, overlap, s)
                ).to(x.device)
                out[..., ky0 * s : ky1 * s, kx0 * s : kx1 * s] += kept * weight
                total[ky0 * s : ky1 * s, kx0 * s : kx1 * s] += weight
                logger.debug("tile %d/%d done", i * len(cols) + j + 1, len(rows) * len(cols))
        return out / total

    @torch.no_grad()
    def upsample_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """(N,3,H,W) float RGB in [0,1] -> (N,3,scale*H,scale*W) float32 RGB in [0,1] (clamped), on ``device``."""
        h, w = x.shape[-2:]
        p, m, s = self.pre_pad, self.size_multiple, self.scale
        x = _pad(x.to(self.device, torch.float32), p, p, p, p)
        x = _pad(x, 0, -x.shape[-1] % m, 0, -x.shape[-2] % m)
        if self.tile and (x.shape[-2] > self.tile or x.shape[-1] > self.tile):
            y = self._tiled(x)
        else:
            y = self._forward(x)
        return y[..., p * s : (p + h) * s, p * s : (p + w) * s].clamp_(0, 1)

    # -- images ----------------------------------------------------------------------------------------------------

    def enhance(self, img: np.ndarray, outscale: float | None = None) -> tuple[np.ndarray, None]:
        """Upsample an OpenCV image; the signature of ``RealESRGANer.enhance`` (GFPGANer calls ``enhance(img,
        outscale=upscale)[0]``).

        Args:
            img: BGR uint8 (H,W,3) as read by ``cv2.imread``; also uint16, gray (H,W) / (H,W,1) and BGRA (H,W,4).
            outscale: output scale (the result is ``int(W*outscale)`` x ``int(H*outscale)``, Lanczos-resized from the
                network's scale when different); None: the network's scale.
        Returns:
            (image, None): the image in the input's format (BGR / gray / BGRA, same dtype), and None.
        """
        bgr, alpha, is_gray = _split_image(img)
        h, w = bgr.shape[:2]
        peak = _max_value(bgr.dtype)
        rgb = torch.from_numpy(np.ascontiguousarray(bgr[:, :, ::-1])).permute(2, 0, 1)[None].float() / peak
        y = self.upsample_tensor(rgb)
        out = (y[0].permute(1, 2, 0).flip(-1) * peak).cpu().numpy()  # BGR float in [0, peak]
        if outscale is not None and float(outscale) != float(self.scale):
            out = cv2.resize(out, (int(w * outscale), int(h * outscale)), interpolation=cv2.INTER_LANCZOS4)
        result = _to_dtype(out, bgr.dtype)
        if is_gray:
            result = cv2.cvtColor(result, cv2.COLOR_BGR2GRAY)
        if alpha is not None:
            alpha_up = cv2.resize(alpha, result.shape[1::-1], interpolation=cv2.INTER_LINEAR)
            result = np.concatenate([result, alpha_up[:, :, None]], axis=2)
        return result, None

    def __call__(self, img: np.ndarray, outscale: float | None = None) -> np.ndarray:
        """``enhance(img, outscale)[0]``: the ``bg_upsampler`` callable of ``FaceRestorer``."""
        return self.enhance(img, outscale)[0]

    def __repr__(self) -> str:
        return (
            f"BackgroundUpsampler({self.name}, x{self.scale}, tile={self.tile}, tile_pad={self.tile_pad}, "
            f"pre_pad={self.pre_pad}, device={self.device}, dtype={str(self.dtype).removeprefix('torch.')})"
        )
