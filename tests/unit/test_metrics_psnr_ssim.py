"""PSNR / SSIM against BasicSR 1.4.2 golden numbers (tests/data/metrics_psnr_ssim_niqe_golden.json)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gfpgan.metrics import calculate_psnr, calculate_psnr_pt, calculate_ssim, calculate_ssim_pt
from gfpgan.registry import METRICS, OptionError

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "data" / "metrics_psnr_ssim_niqe_golden.json").read_text())


def make_pair(seed: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(restored, gt), (h,w,3) uint8 RGB: a blurred random texture and a noisy copy (as in the golden script)."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3)).astype(np.float64), (0, 0), 2.0)
    gt = np.clip(np.round(base * 3 - 255), 0, 255).astype(np.uint8)
    restored = np.clip(np.round(gt + rng.normal(0, 12, gt.shape)), 0, 255).astype(np.uint8)
    return restored, gt


@pytest.mark.parametrize(
    "case", GOLDEN["psnr_ssim"], ids=lambda c: f"s{c['seed']}-c{c['crop_border']}-y{c['test_y_channel']}"
)
def test_psnr_ssim_match_basicsr(case):
    restored, gt = make_pair(case["seed"], case["h"], case["w"])
    kwargs = dict(crop_border=case["crop_border"], test_y_channel=case["test_y_channel"])
    # BasicSR computes the Y channel in float32; we use float64 (MATLAB double): relative 1e-6 covers it.
    assert calculate_psnr(restored, gt, **kwargs) == pytest.approx(case["psnr"], rel=1e-6)
    assert calculate_ssim(restored, gt, **kwargs) == pytest.approx(case["ssim"], rel=1e-6)


def test_channel_order_is_rgb():
    """Y weights are applied as R, G, B: swapping R and B changes the Y-channel PSNR."""
    restored, gt = make_pair(0, 32, 32)
    rgb = calculate_psnr(restored, gt, test_y_channel=True)
    bgr = calculate_psnr(restored[..., ::-1], gt[..., ::-1], test_y_channel=True)
    assert rgb != pytest.approx(bgr, rel=1e-4)
    assert calculate_psnr(restored, gt) == pytest.approx(calculate_psnr(restored[..., ::-1], gt[..., ::-1]))


def test_identical_images_and_chw():
    _, gt = make_pair(1, 20, 24)
    assert calculate_psnr(gt, gt) == float("inf")
    assert calculate_ssim(gt, gt) == pytest.approx(1.0)
    restored, gt = make_pair(1, 20, 24)
    chw = calculate_ssim(restored.transpose(2, 0, 1), gt.transpose(2, 0, 1), input_order="CHW")
    assert chw == calculate_ssim(restored, gt)
    with pytest.raises(ValueError, match="shapes differ"):
        calculate_psnr(restored, gt[:-1])


@pytest.mark.parametrize("crop_border, y", [(0, False), (3, True)])
def test_torch_versions_agree_with_numpy(crop_border, y):
    pairs = [make_pair(seed, 40, 36) for seed in (0, 1, 2)]
    restored = torch.stack([torch.from_numpy(r).permute(2, 0, 1) for r, _ in pairs]).double() / 255
    gt = torch.stack([torch.from_numpy(g).permute(2, 0, 1) for _, g in pairs]).double() / 255
    psnr = calculate_psnr_pt(restored, gt, crop_border, y)
    ssim = calculate_ssim_pt(restored, gt, crop_border, y)
    for i, (r, g) in enumerate(pairs):
        assert psnr[i].item() == pytest.approx(calculate_psnr(r, g, crop_border, test_y_channel=y), rel=1e-10)
        assert ssim[i].item() == pytest.approx(calculate_ssim(r, g, crop_border, test_y_channel=y), rel=1e-10)


def test_metric_objects_from_basicsr_option_blocks():
    """Official option files say `type: calculate_psnr` and may carry `better`."""
    restored, gt = make_pair(2, 48, 48)
    psnr = METRICS.build(
        {"type": "calculate_psnr", "crop_border": 0, "test_y_channel": "false"}, where="val.metrics.psnr"
    )
    ssim = METRICS.build({"type": "ssim", "crop_border": 2, "better": "higher"}, where="val.metrics.ssim", device="cpu")
    for metric in (psnr, ssim):
        metric.update(restored, gt)
        metric.update(gt, gt)
    assert psnr.per_image[0] == calculate_psnr(restored, gt)
    assert psnr.compute() == float("inf") and psnr.better == "higher" and psnr.needs_gt
    assert ssim.compute() == pytest.approx((calculate_ssim(restored, gt, 2) + 1) / 2)
    assert psnr.protocol() == {
        "metric": "psnr",
        "channels": "RGB",
        "crop_border": 0,
        "test_y_channel": False,
        "dtype": "float64",
    }
    ssim.reset()
    assert ssim.per_image == []
    with pytest.raises(OptionError, match="crop_bordr"):
        METRICS.build({"type": "psnr", "crop_bordr": 4}, where="val.metrics.psnr")


def test_update_batch_equals_update_on_saved_images():
    restored, gt = make_pair(0, 32, 40)
    noisy = torch.from_numpy(restored).permute(2, 0, 1)[None].double() / 255 + 0.001  # off the 8-bit grid
    for name in ("psnr", "ssim"):
        batched = METRICS.build({"type": name, "test_y_channel": True}, where="m")
        single = METRICS.build({"type": name, "test_y_channel": True}, where="m")
        batched.update_batch(noisy, torch.from_numpy(gt).permute(2, 0, 1)[None].double() / 255)
        saved = (noisy[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()
        single.update(saved, gt)
        assert batched.per_image[0] == pytest.approx(single.per_image[0], rel=1e-10)
