"""Optimizer building and BasicSR learning-rate schedules (sequences recorded from BasicSR 1.4.2)."""

import io

import pytest
import torch

from gfpgan.optim import (
    CosineAnnealingRestartLR,
    MultiStepRestartLR,
    build_optimizer,
    build_scheduler,
    lazy_regularization,
    update_learning_rate,
)
from gfpgan.registry import OptionError

# lr of each param group after update_learning_rate(current_iter) for current_iter = 1, 2, ..., recorded with BasicSR
# 1.4.2 (BaseModel.update_learning_rate + basicsr.models.lr_scheduler) on groups with initial lr 1e-3 (and 2e-3).
BASICSR = {
    "multistep": [[1e-3, 2e-3]] * 3 + [[5e-4, 1e-3]] * 2 + [[2.5e-4, 5e-4]] * 3,
    "multistep_dup": [[1e-3]] * 3 + [[2.5e-4]] * 2 + [[1.25e-4]] * 3,
    "restart": [[1e-3]] * 2 + [[5e-4]] * 4 + [[2.5e-4]] * 2 + [[1.25e-4]] * 2,
    "cosine": [
        [0.001], [0.000855017856687341], [0.000505], [0.000154982143312659], [1e-05], [0.0004718412874366486],
        [0.00038125], [0.0002575], [0.00013375000000000005], [4.315871256335142e-05],
    ],
    "warm_cosine": [
        [0.0003333333333333333], [0.0006666666666666666], [0.0009045084971874737], [0.0007938926261462366],
        [0.0006545084971874737], [0.0005], [0.00034549150281252633], [0.00020610737385376348],
        [9.549150281252633e-05], [2.4471741852423235e-05],
    ],
}  # fmt: skip


def _optimizer(groups=1):
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(groups)]
    return torch.optim.Adam([{"params": [p], "lr": 1e-3 * (i + 1)} for i, p in enumerate(params)], lr=1.0)


def _run(spec, iters, warmup_iter=-1, groups=1):
    optimizer = _optimizer(groups)
    scheduler = build_scheduler(optimizer, spec, where="train.scheduler")
    lrs = []
    for current_iter in range(1, iters + 1):
        update_learning_rate([optimizer], [scheduler], current_iter, warmup_iter)
        lrs.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
    return lrs


def test_warmup_reaches_the_full_lr_then_follows_the_milestones():
    # BasicSR 1.4.2 gives [2.5e-4, 5e-4, 7.5e-4, 7.5e-4, 7.5e-4, 7.5e-4, 3.75e-4, ...]: its chained multi-step rule
    # keeps scaling the warm-up's last value, so the schedule never returns to the configured lr. Fixed here.
    lrs = _run({"type": "MultiStepLR", "milestones": [6], "gamma": 0.5}, 10, warmup_iter=4)
    want = [2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3] + [5e-4] * 4
    assert [lr[0] for lr in lrs] == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize(
    "name, spec, iters, warmup_iter, groups",
    [
        ("multistep", {"type": "MultiStepLR", "milestones": [3, 5], "gamma": 0.5}, 8, -1, 2),
        ("multistep_dup", {"type": "MultiStepRestartLR", "milestones": [3, 3, 5], "gamma": 0.5}, 8, -1, 1),
        (
            "restart",
            {"type": "MultiStepRestartLR", "milestones": [2, 6, 8], "gamma": 0.5, "restarts": [0, 5],
             "restart_weights": [1, 0.5]},
            10, -1, 1,
        ),
        (
            "cosine",
            {"type": "CosineAnnealingRestartLR", "periods": [4, 6], "restart_weights": [1, 0.5], "eta_min": 1e-5},
            10, -1, 1,
        ),
        ("warm_cosine", {"type": "CosineAnnealingRestartLR", "periods": [10], "restart_weights": [1]}, 10, 3, 1),
    ],
)  # fmt: skip
def test_sequences_match_basicsr(name, spec, iters, warmup_iter, groups):
    lrs = _run(spec, iters, warmup_iter, groups)
    assert len(lrs) == len(BASICSR[name])
    for got, want in zip(lrs, BASICSR[name]):
        assert got == pytest.approx(want, rel=1e-12)


def test_gfpgan_schedule_halves_after_milestone():
    # milestones are scheduler steps: with update_learning_rate the halving is effective from iteration m + 1
    lrs = _run({"type": "MultiStepLR", "milestones": [600], "gamma": 0.5}, 602)
    assert lrs[599] == [1e-3] and lrs[600] == [5e-4]  # iterations 600 and 601


def test_state_round_trip_resumes_exactly():
    cosine = {"type": "CosineAnnealingRestartLR", "periods": [5, 7], "restart_weights": [1, 0.5], "eta_min": 1e-6}
    for spec in (cosine, {"type": "MultiStepLR", "milestones": [3, 6, 6], "gamma": 0.5}):
        full = _run(spec, 12, warmup_iter=2)
        optimizer = _optimizer()
        scheduler = build_scheduler(optimizer, spec, where="s")
        for current_iter in range(1, 6):
            update_learning_rate([optimizer], [scheduler], current_iter, 2)
            optimizer.step()
        buffer = io.BytesIO()
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
        buffer.seek(0)
        state = torch.load(buffer, weights_only=True)  # plain Python values only
        optimizer = _optimizer()
        scheduler = build_scheduler(optimizer, spec, where="s")  # built before loading the optimizer state
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        resumed = []
        for current_iter in range(6, 13):
            update_learning_rate([optimizer], [scheduler], current_iter, 2)
            resumed.append([group["lr"] for group in optimizer.param_groups])
            optimizer.step()
        assert resumed == full[5:]


def test_scheduler_errors():
    with pytest.raises(OptionError, match="MultiStepLR"):
        build_scheduler(_optimizer(), {"type": "MultiStepLr", "milestones": [1]}, where="train.scheduler")
    with pytest.raises(OptionError, match="train.scheduler.milstones"):
        build_scheduler(_optimizer(), {"type": "MultiStepLR", "milstones": [1]}, where="train.scheduler")
    with pytest.raises(OptionError, match="one weight per restart"):
        build_scheduler(_optimizer(), {"type": "MultiStepLR", "milestones": [1], "restarts": [0, 3]}, where="s")
    optimizer = _optimizer()
    cosine = CosineAnnealingRestartLR(optimizer, periods=[2])
    optimizer.step()
    cosine.step()
    cosine.step()
    with pytest.raises(ValueError, match="past the end"):
        cosine.step()
    # option values are coerced from YAML forms
    scheduler = build_scheduler(_optimizer(), {"type": "MultiStepLR", "milestones": ["6e5", 7e5], "gamma": "0.5"}, "s")
    assert isinstance(scheduler, MultiStepRestartLR) and scheduler.milestones == {600000: 1, 700000: 1}


def test_build_optimizer():
    w = torch.nn.Parameter(torch.zeros(2))
    opt = build_optimizer([w], {"type": "Adam", "lr": "2e-3", "betas": [0, 0.99]}, where="train.optim_g")
    assert isinstance(opt, torch.optim.Adam)
    group = opt.param_groups[0]
    assert group["lr"] == 2e-3 and isinstance(group["lr"], float) and group["betas"] == (0.0, 0.99)
    opt = build_optimizer([w], {"type": "AdamW", "lr": 1e-4, "weight_decay": "1e-2", "foreach": False}, where="o")
    assert isinstance(opt, torch.optim.AdamW) and opt.param_groups[0]["foreach"] is False
    assert opt.param_groups[0]["weight_decay"] == 0.01
    opt = build_optimizer([w], {"type": "Adam", "lr": 1e-3, "fused": True}, where="o")
    assert opt.param_groups[0]["fused"] is True
    # a param group's own lr wins over the block's (GFPGAN's optimizer_d relies on this)
    opt = build_optimizer([{"params": [w], "lr": 2e-3}], {"type": "Adam", "lr": 1e-3}, where="o")
    assert opt.param_groups[0]["lr"] == 2e-3
    w.grad = torch.ones(2)
    opt.step()
    assert w.detach().tolist() == pytest.approx([-2e-3, -2e-3])


def test_build_optimizer_errors():
    w = [torch.nn.Parameter(torch.zeros(1))]
    with pytest.raises(OptionError, match="Did you mean 'Adam'"):
        build_optimizer(w, {"type": "adam", "lr": 1e-3}, where="train.optim_g")
    with pytest.raises(OptionError, match=r"train.optim_g.bettas: unknown option .*betas"):
        build_optimizer(w, {"type": "Adam", "bettas": [0.9, 0.99]}, where="train.optim_g")
    with pytest.raises(OptionError, match="train.optim_g.lr"):
        build_optimizer(w, {"type": "Adam", "lr": "fast"}, where="train.optim_g")
    with pytest.raises(OptionError, match="betas"):
        build_optimizer(w, {"type": "Adam", "betas": [0.9]}, where="train.optim_g")
    with pytest.raises(OptionError, match="missing 'type'"):
        build_optimizer(w, {"lr": 1e-3}, where="train.optim_g")


def test_optimizers_and_schedules_are_registries():
    from gfpgan.registry import OPTIMIZERS, SCHEDULERS

    assert OPTIMIZERS.names() == ["Adam", "AdamW"] and OPTIMIZERS.get("Adam") is torch.optim.Adam
    assert {"MultiStepLR", "MultiStepRestartLR", "CosineAnnealingRestartLR"} <= set(SCHEDULERS.names())
    with pytest.raises(OptionError, match="Did you mean 'Adam'"):
        OPTIMIZERS.get("Adma", where="train.optim_g.type")


def test_lazy_regularization_scales_betas_and_optionally_the_lr():
    spec = {"type": "Adam", "lr": 2e-3, "betas": (0.0, 0.99)}
    c = 16 / 17
    official = lazy_regularization(spec, 16, scale_lr=False)
    assert official["lr"] == 2e-3 and official["betas"] == (0.0, 0.99**c)
    assert lazy_regularization(spec, 16, scale_lr=True)["lr"] == pytest.approx(2e-3 * c)
    assert lazy_regularization(spec, 0, scale_lr=True) == spec
