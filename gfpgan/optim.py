"""Optimizers and learning-rate schedules from option blocks, with BasicSR's semantics.

- ``build_optimizer(params, {type: Adam, lr: 2e-3, betas: [0, 0.99]}, where="train.optim_g")``: Adam or AdamW,
  options checked against the torch signature (so ``fused`` / ``foreach`` / ``weight_decay`` ... pass through).
- ``build_scheduler(optimizer, {type: MultiStepLR, milestones: [600000, 700000], gamma: 0.5}, where=...)``:
  ``MultiStepLR`` / ``MultiStepRestartLR`` (the same BasicSR schedule) or ``CosineAnnealingRestartLR``.
- ``update_learning_rate(optimizers, schedulers, current_iter, warmup_iter)`` once per iteration, *before* the
  optimisation step of iteration ``current_iter`` (1-based), exactly as BasicSR's ``BaseModel.update_learning_rate``:
  every scheduler steps at every iteration > 1, and during warm-up (``current_iter < warmup_iter``) each group's lr is
  set to ``initial_lr / warmup_iter * current_iter``.

BasicSR quirk kept on purpose (it is what BasicSR runs): ``MultiStepRestartLR`` is a *chained* schedule (it scales
the group's current lr at a milestone), so after a linear warm-up it keeps the last warm-up value
``initial_lr * (warmup_iter - 1) / warmup_iter`` instead of returning to ``initial_lr``. GFPGAN's configs use no
warm-up (``warmup_iter: -1``). ``CosineAnnealingRestartLR`` is closed-form and is not affected.

Schedulers are ``torch.optim.lr_scheduler.LRScheduler`` subclasses: ``state_dict()`` / ``load_state_dict()`` restore
them exactly (their state holds only plain Python values, loadable with ``torch.load(weights_only=True)``); the
warm-up is stateless (a function of ``current_iter``). On resume, build the scheduler before loading the optimizer's
state (building one sets the lrs; the optimizer state then restores them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from gfpgan.registry import OPTIMIZERS, SCHEDULERS, OptionError

__all__ = [
    "CosineAnnealingRestartLR",
    "MultiStepRestartLR",
    "build_optimizer",
    "build_scheduler",
    "lazy_regularization",
    "update_learning_rate",
]

OPTIMIZERS.register("Adam")(torch.optim.Adam)
OPTIMIZERS.register("AdamW")(torch.optim.AdamW)


def build_optimizer(params: Iterable[Any], spec: Mapping[str, Any], where: str) -> Optimizer:
    """Build ``torch.optim.<type>`` over ``params`` (tensors or param-group dicts) from an option block.

    Args:
        params: parameters, or param groups (a group's own ``lr`` overrides the block's, as in torch).
        spec: ``{type: Adam | AdamW, lr: ..., betas: [b1, b2], ...}``; the other keys are the torch optimizer's
            keyword arguments (``eps``, ``weight_decay``, ``amsgrad``, ``foreach``, ``fused``, ...), checked against
            its signature; numbers may be strings (``"2e-3"``), ``betas`` a list.
        where: option path for error messages, e.g. ``"train.optim_g"``.
    """
    spec = dict(spec)
    # torch annotates lr as `float | Tensor` and betas as a tuple of those: coerce the YAML forms explicitly.
    if "lr" in spec:
        spec["lr"] = _number(spec["lr"], f"{where}.lr")
    if "betas" in spec:
        betas = spec["betas"]
        if not isinstance(betas, (list, tuple)) or len(betas) != 2:
            raise OptionError(f"{where}.betas: expected two numbers [beta1, beta2], got {betas!r}.")
        spec["betas"] = tuple(_number(b, f"{where}.betas[{i}]") for i, b in enumerate(betas))
    cls, kwargs = OPTIMIZERS.check(spec, where, provided=("params",))
    try:
        return cls(params, **kwargs)
    except (ValueError, RuntimeError) as e:
        raise OptionError(f"{where}: torch.optim.{spec['type']} rejected the options {kwargs}: {e}") from e


def lazy_regularization(spec: Mapping[str, Any], reg_every: int, scale_lr: bool) -> dict[str, Any]:
    """The optimizer block of a network regularised lazily every ``reg_every`` iterations (StyleGAN2, Appendix B).

    With c = k/(k+1) the betas become ``beta ** c``; with ``scale_lr`` the lr becomes ``lr * c`` too. The reference
    GFP-GAN trainer scales the betas but, through a param-group override, not the lr: ``train.d_lr_scaling:
    official`` (scale_lr False) reproduces that, ``stylegan2`` does what StyleGAN2 intends. ``reg_every`` 0: unchanged.
    """
    spec = dict(spec)
    if reg_every > 0:
        c = reg_every / (reg_every + 1)
        spec["betas"] = tuple(float(b) ** c for b in spec["betas"])
        if scale_lr:
            spec["lr"] = float(spec["lr"]) * c
    return spec


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise OptionError(f"{where}: expected a number, got {value!r}.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{where}: expected a number, got {value!r}.") from None


# ----------------------------------------------------------------------------------------------------------------------
# Schedulers


class MultiStepRestartLR(LRScheduler):
    """BasicSR's multi-step schedule with restarts (chained form).

    At a restart iteration ``r = restarts[j]`` the lr becomes ``initial_lr * restart_weights[j]``; at a milestone it is
    multiplied by ``gamma`` (once per occurrence of the milestone in the list); otherwise it is left unchanged. With
    ``restarts=(0,)`` (default) this is ``initial_lr * gamma ** (number of milestones <= t)`` after ``t`` steps; it is
    computed in that closed form, so a linear warm-up ends at the full lr (BasicSR's does not, see get_lr).

    Args:
        optimizer: the optimizer whose groups are scheduled.
        milestones: scheduler steps (iterations - 1 under ``update_learning_rate``) at which the lr is scaled.
        gamma: the scale factor.
        restarts: steps at which the lr restarts; same length as ``restart_weights``.
        restart_weights: lr weight at each restart.
        last_epoch: -1 for a new schedule (torch convention).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Sequence[int],
        gamma: float = 0.1,
        restarts: Sequence[int] = (0,),
        restart_weights: Sequence[float] = (1.0,),
        last_epoch: int = -1,
    ) -> None:
        if len(restarts) != len(restart_weights):
            raise ValueError(
                f"MultiStepRestartLR: {len(restarts)} restarts but {len(restart_weights)} restart_weights; "
                "give one weight per restart."
            )
        self.milestones: dict[int, int] = {}  # milestone -> count; a plain dict (not Counter) for weights_only loads
        for m in milestones:
            self.milestones[int(m)] = self.milestones.get(int(m), 0) + 1
        self.gamma = float(gamma)
        self.restarts = [int(r) for r in restarts]
        self.restart_weights = [float(w) for w in restart_weights]
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        # Closed form of BasicSR's chained rule (equal to it step for step), computed from initial_lr: a linear
        # warm-up that overwrites the lr cannot leak into the rest of the schedule. (BasicSR's chained form keeps
        # scaling the warm-up's last value, so after warm-up its lr stays at initial_lr * (w-1)/w: not copied.)
        t = self.last_epoch
        passed = [i for i, r in enumerate(self.restarts) if r <= t]
        start, weight = (self.restarts[passed[-1]], self.restart_weights[passed[-1]]) if passed else (-1, 1.0)
        count = sum(n for m, n in self.milestones.items() if start < m <= t)
        return [group["initial_lr"] * weight * self.gamma**count for group in self.optimizer.param_groups]


class CosineAnnealingRestartLR(LRScheduler):
    """BasicSR's cosine annealing with restarts (closed form).

    Cycle i lasts ``periods[i]`` steps; at step t inside cycle i (which starts at step ``s_i``, the sum of the earlier
    periods), ``lr = eta_min + restart_weights[i] * (base_lr - eta_min) * (1 + cos(pi * (t - s_i) / periods[i])) / 2``.
    A cycle's last step belongs to it (lr = eta_min there); the next step restarts at the next cycle's weight.

    Args:
        optimizer: the optimizer whose groups are scheduled.
        periods: length of each cycle, in scheduler steps; their sum must cover the training.
        restart_weights: lr weight of each cycle; same length as ``periods``.
        eta_min: the minimum lr.
        last_epoch: -1 for a new schedule (torch convention).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        periods: Sequence[int],
        restart_weights: Sequence[float] = (1.0,),
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if len(periods) != len(restart_weights):
            raise ValueError(
                f"CosineAnnealingRestartLR: {len(periods)} periods but {len(restart_weights)} restart_weights; "
                "give one weight per period."
            )
        self.periods = [int(p) for p in periods]
        self.restart_weights = [float(w) for w in restart_weights]
        self.eta_min = float(eta_min)
        self.cumulative_period = [sum(self.periods[: i + 1]) for i in range(len(self.periods))]
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        cycle = next((i for i, end in enumerate(self.cumulative_period) if t <= end), None)
        if cycle is None:
            raise ValueError(
                f"CosineAnnealingRestartLR: step {t} is past the end of the periods {self.periods} "
                f"(total {self.cumulative_period[-1]}); make the periods sum to at least total_iter."
            )
        start = 0 if cycle == 0 else self.cumulative_period[cycle - 1]
        weight = self.restart_weights[cycle]
        period = self.periods[cycle]
        return [
            self.eta_min + weight * 0.5 * (base_lr - self.eta_min) * (1 + math.cos(math.pi * ((t - start) / period)))
            for base_lr in self.base_lrs
        ]


SCHEDULERS.register("MultiStepLR")(MultiStepRestartLR)  # the name GFPGAN's options use; BasicSR maps it so
SCHEDULERS.register("MultiStepRestartLR")(MultiStepRestartLR)
SCHEDULERS.register("CosineAnnealingRestartLR")(CosineAnnealingRestartLR)


def build_scheduler(optimizer: Optimizer, spec: Mapping[str, Any], where: str) -> LRScheduler:
    """Build a BasicSR schedule for ``optimizer`` from ``{type: ..., **options}`` (options checked and coerced).

    Types: ``MultiStepLR`` = ``MultiStepRestartLR`` (milestones, gamma, restarts, restart_weights) and
    ``CosineAnnealingRestartLR`` (periods, restart_weights, eta_min). ``where`` is the option path for errors.
    """
    cls, kwargs = SCHEDULERS.check(spec, where, provided=("optimizer",))
    if "last_epoch" in kwargs:
        raise OptionError(f"{where}.last_epoch: not an option; a schedule resumes from the training state.")
    try:
        return cls(optimizer, **kwargs)
    except ValueError as e:
        raise OptionError(f"{where}: {e}") from e


def update_learning_rate(
    optimizers: Sequence[Optimizer], schedulers: Sequence[LRScheduler], current_iter: int, warmup_iter: int = -1
) -> None:
    """Set the lrs for iteration ``current_iter`` (1-based), before its optimisation step (BasicSR semantics).

    Every scheduler steps when ``current_iter > 1``; while ``current_iter < warmup_iter`` each param group's lr is
    then overwritten with ``initial_lr / warmup_iter * current_iter`` (linear warm-up; ``warmup_iter=-1``: none).
    """
    if current_iter > 1:
        for scheduler in schedulers:
            scheduler.step()
    if current_iter < warmup_iter:
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"] / warmup_iter * current_iter
