"""Pixel losses against hand-computed values (BasicSR's docstring example and small cases)."""

import math

import pytest
import torch

from gfpgan.losses.pixel import CharbonnierLoss, L1Loss, MSELoss, WeightedTVLoss, weight_reduce_loss
from gfpgan.registry import LOSSES

PRED = torch.tensor([0.0, 2.0, 3.0]).view(1, 1, 1, 3)
TARGET = torch.tensor([1.0, 1.0, 1.0]).view(1, 1, 1, 3)
WEIGHT = torch.tensor([1.0, 0.0, 1.0]).view(1, 1, 1, 3)


def test_l1_reductions_and_weights():
    # |d| = 1, 1, 2
    assert L1Loss()(PRED, TARGET).item() == pytest.approx(4 / 3)
    assert L1Loss(reduction="sum")(PRED, TARGET).item() == pytest.approx(4.0)
    assert L1Loss(reduction="none")(PRED, TARGET).flatten().tolist() == [1.0, 1.0, 2.0]
    assert L1Loss()(PRED, TARGET, weight=WEIGHT).item() == pytest.approx(1.5)  # (1 + 2) / (1 + 0 + 1)
    assert L1Loss(reduction="sum")(PRED, TARGET, weight=WEIGHT).item() == pytest.approx(3.0)
    assert L1Loss(loss_weight=0.1)(PRED, TARGET).item() == pytest.approx(0.4 / 3)


def test_mse_and_charbonnier():
    assert MSELoss()(PRED, TARGET).item() == pytest.approx((1 + 1 + 4) / 3)
    assert MSELoss(loss_weight=2.0, reduction="sum")(PRED, TARGET, weight=WEIGHT).item() == pytest.approx(2 * 5)
    expected = sum(math.sqrt(d * d + 1e-12) for d in (1, 1, 2)) / 3
    assert CharbonnierLoss()(PRED, TARGET).item() == pytest.approx(expected, rel=1e-6)
    # eps sets the value at zero difference: sqrt(eps)
    assert CharbonnierLoss(eps=1e-2)(TARGET, TARGET).item() == pytest.approx(0.1, rel=1e-6)


def test_single_channel_weight_mean_counts_channels():
    pred = torch.zeros(1, 2, 1, 2)
    target = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    weight = torch.tensor([1.0, 0.5]).view(1, 1, 1, 2)
    # weighted sum = 1*1 + 0.5*2 + 1*3 + 0.5*4 = 7; weight sum 1.5 counted for each of 2 channels -> 7 / 3
    assert L1Loss()(pred, target, weight=weight).item() == pytest.approx(7 / 3)
    full = weight.expand(1, 2, 1, 2).contiguous()
    assert L1Loss()(pred, target, weight=full).item() == pytest.approx(7 / 3)
    with pytest.raises(ValueError, match="does not fit"):
        weight_reduce_loss(target, torch.ones(1, 3, 1, 2))


def test_tv_loss():
    pred = torch.tensor([[0.0, 1.0], [3.0, 5.0]]).view(1, 1, 2, 2)
    # horizontal |0-1|, |3-5| -> mean 1.5; vertical |0-3|, |1-5| -> mean 3.5
    assert WeightedTVLoss(loss_weight=2.0)(pred).item() == pytest.approx(2 * (1.5 + 3.5))
    assert WeightedTVLoss(reduction="sum")(pred).item() == pytest.approx(10.0)
    weight = torch.tensor([[1.0, 0.0], [0.0, 0.0]]).view(1, 1, 2, 2)
    # only the differences starting at (0,0) count: horizontal 1 (weight sum 1), vertical 3 (weight sum 1)
    assert WeightedTVLoss()(pred, weight=weight).item() == pytest.approx(1.0 + 3.0)
    with pytest.raises(ValueError, match="reduction"):
        WeightedTVLoss(reduction="none")


def test_registry_build_and_bad_reduction():
    loss = LOSSES.build({"type": "L1Loss", "loss_weight": "1e-1", "reduction": "mean"}, where="train.pixel_opt")
    assert loss.loss_weight == pytest.approx(0.1)
    with pytest.raises(ValueError, match="reduction"):
        LOSSES.build({"type": "L1Loss", "reduction": "avg"}, where="train.pixel_opt")
    with pytest.raises(ValueError, match="reduction"):
        MSELoss(reduction="avg")


def test_gradient_of_l1():
    pred = PRED.clone().requires_grad_(True)
    L1Loss()(pred, TARGET).backward()
    assert pred.grad.flatten().tolist() == pytest.approx([-1 / 3, 1 / 3, 1 / 3])
