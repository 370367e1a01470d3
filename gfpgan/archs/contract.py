"""What the training loop, test.py and inference need of a restoration generator, declared once.

A generator registered in ``ARCHS`` and used as ``network_g`` must provide:

- ``forward(x, return_rgb=..., randomize_noise=...) -> (image, out_rgbs)``: ``x`` and ``image`` are
  (N,3,out_size,out_size) float in [-1,1], RGB; ``out_rgbs`` is the list of intermediate RGB images (smallest first)
  for the pyramid loss, empty when ``return_rgb`` is False; ``randomize_noise=False`` uses stored noise (validation,
  test and inference are deterministic);
- ``out_size``: the side of the aligned faces it restores, in pixels;
- ``toRGB``: the modules producing ``out_rgbs`` (frozen when the pyramid loss is removed), needed only when the
  pyramid loss is on.

``check_generator`` checks a built network against this when it is built, so a new arch fails with one clear line
instead of deep inside the loop.
"""

from __future__ import annotations

import inspect
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from gfpgan.registry import OptionError

__all__ = ["RestorationGenerator", "check_generator"]


@runtime_checkable
class RestorationGenerator(Protocol):
    out_size: int

    def forward(
        self, x: torch.Tensor, return_rgb: bool = True, randomize_noise: bool = True
    ) -> tuple[torch.Tensor, list[torch.Tensor]]: ...


def check_generator(net: nn.Module, where: str = "network_g", pyramid: bool = False) -> nn.Module:
    """Raise OptionError naming ``where`` and the missing piece if ``net`` does not follow the contract above.

    ``pyramid``: the pyramid loss is on, so ``toRGB`` is needed too. Returns ``net``.
    """
    name = type(net).__name__
    problems = []
    params = inspect.signature(net.forward).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for arg in ("return_rgb", "randomize_noise"):
        if arg not in params and not accepts_any:
            problems.append(f"forward() has no '{arg}' parameter")
    if not isinstance(getattr(net, "out_size", None), int):
        problems.append("no integer 'out_size' attribute (the face side it restores)")
    if pyramid and not isinstance(getattr(net, "toRGB", None), nn.Module):
        problems.append("no 'toRGB' module, which the pyramid loss needs (set train.pyramid_loss_weight: 0)")
    if problems:
        raise OptionError(
            f"{where}: {name} is not a restoration generator: {'; '.join(problems)}. "
            "See gfpgan/archs/contract.py for what network_g must provide."
        )
    return net
