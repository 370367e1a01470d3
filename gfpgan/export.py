"""Export a GFPGANv1Clean generator to ONNX and check it against PyTorch with onnxruntime.

The exported graph maps ``input`` (N,3,S,S) float32 in [-1,1], RGB, aligned faces to ``output`` (N,3,S,S) float32,
roughly [-1,1] (not clamped), RGB. The batch axis is dynamic. The decoder noise is the checkpoint's stored noise maps,
baked in as constants (``randomize_noise=False``), so the model is deterministic.

Two choices, both forced by what works reliably here:
- The TorchScript exporter (``torch.onnx.export(..., dynamo=False)``). The dynamo exporter (the default in recent
  torch) needs the ``onnxscript`` package, which is not a dependency of this project.
- The modulated convolutions are traced in their "input scaling" form, ``conv(x * s, W) * demod(s, W)`` with one
  weight shared by the batch, instead of the training form, a grouped convolution with ``groups = batch``: ONNX needs
  a static ``group`` attribute, so the grouped form cannot have a dynamic batch axis. Both forms are the same
  mathematics; the export is verified against the unmodified PyTorch forward.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gfpgan.archs.stylegan2 import modulated_conv2d
from gfpgan.utils.errors import run_main

__all__ = ["NoiseFreeGenerator", "export_onnx", "main", "verify_onnx"]

logger = logging.getLogger(__name__)


class NoiseFreeGenerator(nn.Module):
    """``net(x, return_rgb=False, randomize_noise=False)[0]``: one tensor in, one out, no randomness."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, return_rgb=False, randomize_noise=False)[0]


def _modulated_conv2d_shared_weight(
    x: torch.Tensor,
    weight: torch.Tensor,
    style: torch.Tensor,
    demodulate: bool,
    padding: int,
    eps: float = 1e-8,
    transposed: bool = False,
    stride: int = 1,
    gain: float = 1.0,
    bias: torch.Tensor | None = None,
    weight_sq_sums: torch.Tensor | None = None,
) -> torch.Tensor:
    """``modulated_conv2d`` forced to its shared-weight form ``conv(x * style, W) * demod``: batch-agnostic (the
    automatic choice under no_grad picks the grouped form, whose reshapes bake the traced batch into the graph)."""
    if transposed:
        raise NotImplementedError("ONNX export supports the clean arch only (no transposed modulated convolutions).")
    return modulated_conv2d(
        x, weight, style, demodulate, padding, eps, stride=stride, fused=False, gain=gain, bias=bias
    )


@contextlib.contextmanager
def _export_friendly_modulated_conv() -> Iterator[None]:
    from gfpgan.archs import stylegan2_clean

    if not hasattr(stylegan2_clean, "modulated_conv2d"):
        raise RuntimeError("gfpgan.archs.stylegan2_clean.modulated_conv2d not found; update gfpgan/export.py.")
    original = stylegan2_clean.modulated_conv2d
    stylegan2_clean.modulated_conv2d = _modulated_conv2d_shared_weight
    try:
        yield
    finally:
        stylegan2_clean.modulated_conv2d = original


def _out_size(net: nn.Module) -> int:
    return int(getattr(net, "out_size", None) or 2**net.log_size)


def export_onnx(net: nn.Module, path: str | os.PathLike, opset: int = 17, example_batch: int = 1) -> Path:
    """Write ``net`` (a GFPGANv1Clean) as ONNX with a dynamic batch axis; returns the path.

    Args:
        net: the generator (moved to CPU float32 for the export; not modified).
        path: output ``.onnx`` file (folders created).
        opset: ONNX opset, >= 17.
        example_batch: batch of the tracing example (any value works; the axis stays dynamic).
    """
    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}.")
    if type(net).__name__ != "GFPGANv1Clean":
        raise ValueError(f"ONNX export supports GFPGANv1Clean (v1.2/1.3/1.4 weights), got {type(net).__name__}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = _out_size(net)
    wrapper = NoiseFreeGenerator(net).eval().to("cpu", torch.float32)
    example = torch.zeros(example_batch, 3, size, size)
    with _export_friendly_modulated_conv(), torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo, which needs onnxscript (see the module doc).
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            wrapper,
            (example,),
            str(path),
            input_names=["input"],
            output_names=["output"],
            opset_version=opset,
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
            dynamo=False,
        )
    return path


def verify_onnx(
    net: nn.Module, path: str | os.PathLike, batch_sizes: Sequence[int] = (1, 2), seed: int = 0
) -> dict[int, float]:
    """Max abs difference between onnxruntime (CPU) and the PyTorch forward, per batch size, on seeded random faces
    in [-1,1]."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    wrapper = NoiseFreeGenerator(net).eval().to("cpu", torch.float32)
    size = _out_size(net)
    generator = torch.Generator().manual_seed(seed)
    diffs = {}
    for batch in batch_sizes:
        x = torch.rand(batch, 3, size, size, generator=generator) * 2 - 1
        with torch.no_grad():
            expected = wrapper(x).numpy()
        got = session.run(["output"], {"input": x.numpy()})[0]
        if got.shape != expected.shape:
            raise RuntimeError(f"{path}: ONNX output shape {got.shape} != PyTorch {expected.shape} at batch {batch}.")
        diffs[batch] = float(np.abs(got - expected).max())
    return diffs


def main(argv: Sequence[str] | None = None) -> int:
    """The command; every error is one line and an exit code (gfpgan/utils/errors.py; GFPGAN_DEBUG=1: traceback)."""
    return run_main(lambda: _main(argv))


def _main(argv: Sequence[str] | None = None) -> int:
    """``scripts/export_onnx.py``: export a checkpoint's generator to ONNX and verify it."""
    from gfpgan.inference import load_generator
    from gfpgan.utils.weights import WeightsNotFoundError

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model-path", help="generator checkpoint (clean arch)")
    src.add_argument("-v", "--version", choices=["1.2", "1.3", "1.4"], help="official clean weights (default 1.3)")
    p.add_argument("-o", "--output", required=True, help="output .onnx file")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--no-verify", action="store_true", help="skip the onnxruntime comparison")
    p.add_argument("--atol", type=float, default=1e-3, help="fail when the max abs difference exceeds this")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        net, arch = load_generator(args.model_path, args.version)
    except (WeightsNotFoundError, ValueError, OSError, RuntimeError) as e:
        logger.error("cannot load the generator: %s", e)
        return 2
    if arch != "clean":
        logger.error("only clean-arch (v1.2/1.3/1.4) checkpoints can be exported; this one is %s.", arch)
        return 2
    path = export_onnx(net, args.output, opset=args.opset)
    logger.info("wrote %s (opset %d, dynamic batch, stored noise)", path, args.opset)
    if args.no_verify:
        return 0
    diffs = verify_onnx(net, path)
    for batch, diff in diffs.items():
        logger.info("onnxruntime vs PyTorch, batch %d: max abs diff %.3g", batch, diff)
    if max(diffs.values()) > args.atol:
        logger.error("max abs diff exceeds --atol %g", args.atol)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
