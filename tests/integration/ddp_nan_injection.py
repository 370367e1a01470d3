"""train.py under torchrun with a NaN injected on ONE rank (rank 1) at chosen iterations, for test_train_ddp.py.

    GFPGAN_NAN_AT="2:g,3:d,4:left_eye" torchrun --nproc_per_node=2 tests/integration/ddp_nan_injection.py -opt ...

``g``: G's pixel loss is NaN (G skips); ``d``: D's scores are NaN in its own step (D skips); ``left_eye``: the left-eye
discriminator's scores are NaN in its own step. Every rank must take the same decision, so the run goes on and the
replicas stay identical (checked by the trainer at every checkpoint).
"""

from __future__ import annotations

import os
import sys

import torch

import gfpgan.train as T

PLAN = dict((int(at), target) for at, target in (item.split(":") for item in os.environ["GFPGAN_NAN_AT"].split(",")))
RANK = int(os.environ["RANK"])
current = {"it": 0}


def poisoned(value: torch.Tensor, target: str) -> torch.Tensor:
    return value * float("nan") if RANK == 1 and PLAN.get(current["it"]) == target else value


_update = T.update_learning_rate


def update_learning_rate(optimizers, schedulers, it, warmup_iter):  # records the iteration number
    current["it"] = it
    return _update(optimizers, schedulers, it, warmup_iter)


_build = T.build_training


def build_training(opts, device):
    run = _build(opts, device)
    pixel, d, left_eye = run.crit.pixel, run.nets.d, run.nets.components["left_eye"]
    pixel_forward, d_forward, eye_forward = pixel.forward, d.forward, left_eye.forward
    pixel.forward = lambda *a, **k: poisoned(pixel_forward(*a, **k), "g")

    def d_step_only(net, forward, target):
        def wrapped(*a, **k):
            out = forward(*a, **k)
            if not next(net.parameters()).requires_grad:  # G's step (D frozen): untouched
                return out
            return (poisoned(out[0], target), out[1]) if isinstance(out, tuple) else poisoned(out, target)

        return wrapped

    d.forward = d_step_only(d, d_forward, "d")
    left_eye.forward = d_step_only(left_eye, eye_forward, "left_eye")
    return run


T.update_learning_rate = update_learning_rate
T.build_training = build_training

if __name__ == "__main__":
    sys.exit(T.main())
