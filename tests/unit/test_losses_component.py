"""Component crops, component style loss, identity input/loss and the GT pyramid, against hand-computed values."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gfpgan.losses.component import component_crop_size, component_style_loss, roi_align_boxes, roi_crops
from gfpgan.losses.identity import gray_resize_for_identity, identity_loss
from gfpgan.losses.pyramid import gt_pyramid, pyramid_l1


def _ramp_faces(n=2, size=64):
    """Channel 0 = column index + 100·n, channel 1 = row index, channel 2 = 0.5 (bilinear sampling is exact)."""
    cols = torch.arange(size, dtype=torch.float32).view(1, size).expand(size, size)
    rows = cols.t()
    return torch.stack([torch.stack([cols + 100 * i, rows, torch.full_like(cols, 0.5)]) for i in range(n)])


def _expected_crop(box, out, offset):
    """roi_align (aligned=False) of the ramp: the mean of a bin's samples is the ramp at the bin centre."""
    x1, y1, x2, y2 = box
    centres = torch.arange(out, dtype=torch.float32) + 0.5
    xs = x1 + centres * (x2 - x1) / out
    ys = y1 + centres * (y2 - y1) / out
    return torch.stack([xs.view(1, out).expand(out, out) + offset, ys.view(out, 1).expand(out, out)])


def test_crop_sizes_scale_with_face_size():
    assert component_crop_size(80, 512) == 80 and component_crop_size(120, 512) == 120
    assert component_crop_size(80, 64) == 10 and component_crop_size(120, 64) == 15
    assert component_crop_size(80, 1) == 1  # at least one pixel


def test_roi_align_boxes_layout():
    left = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    right = left + 10
    boxes = roi_align_boxes({"left": left, "right": right})
    expected = torch.tensor(
        [[0, 1, 2, 3, 4], [0, 11, 12, 13, 14], [1, 5, 6, 7, 8], [1, 15, 16, 17, 18]], dtype=torch.float32
    )
    torch.testing.assert_close(boxes, expected)
    torch.testing.assert_close(roi_align_boxes(left), torch.cat([torch.tensor([[0.0], [1.0]]), left], dim=1))


def test_roi_crops_by_hand():
    faces = _ramp_faces()
    left = torch.tensor([[10.5, 20.25, 25.5, 32.0], [12.0, 18.0, 30.0, 30.0]])
    right = torch.tensor([[36.0, 20.0, 52.0, 33.5], [35.25, 19.0, 51.0, 31.0]])
    mouth = torch.tensor([[20.0, 40.0, 44.0, 56.0], [18.5, 41.0, 45.0, 58.25]])
    left_eyes, right_eyes, mouths = roi_crops(faces, left, right, mouth, face_size=64)
    assert left_eyes.shape == right_eyes.shape == (2, 3, 10, 10) and mouths.shape == (2, 3, 15, 15)
    for n in range(2):
        for crops, boxes, size in [(left_eyes, left, 10), (right_eyes, right, 10), (mouths, mouth, 15)]:
            expected = _expected_crop(boxes[n].tolist(), size, offset=100 * n)
            torch.testing.assert_close(crops[n, :2], expected, rtol=0, atol=1e-4)
    # pixel values are not rescaled (the reference multiplies them by out_size/512)
    torch.testing.assert_close(mouths[:, 2], torch.full((2, 15, 15), 0.5))


def test_roi_crops_at_512_sizes_and_gradients():
    faces = _ramp_faces(1, 64).requires_grad_(True)
    box = torch.tensor([[10.0, 10.0, 40.0, 40.0]])
    left_eyes, right_eyes, mouths = roi_crops(faces, box, box, box)  # face_size 512 -> 80 / 120 px crops
    assert left_eyes.shape == (1, 3, 80, 80) and mouths.shape == (1, 3, 120, 120)
    torch.testing.assert_close(left_eyes, right_eyes)
    mouths.sum().backward()
    assert faces.grad.abs().sum() > 0


def test_component_style_loss_by_hand():
    fake = [torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2), torch.ones(1, 1, 2, 2)]
    real = [torch.zeros(1, 2, 1, 2, requires_grad=True), torch.zeros(1, 1, 2, 2, requires_grad=True)]
    fake = [f.requires_grad_(True) for f in fake]
    # gram(fake0) = [[5, 11], [11, 25]] / 4 -> L1 to 0 = 52/16 = 3.25; gram(fake1) = 4/4 = 1 -> L1 = 1
    loss = component_style_loss(fake, real)
    assert loss.item() == pytest.approx(0.5 * 3.25 + 1.0 * 1.0)
    loss.backward()
    assert fake[0].grad is not None and real[0].grad is None and real[1].grad is None
    assert component_style_loss(fake, real, weights=(1.0, 0.0)).item() == pytest.approx(3.25)
    with pytest.raises(ValueError, match="one weight per feature map"):
        component_style_loss(fake, real, weights=(1.0,))


def test_gray_resize_for_identity():
    rgb = torch.tensor([0.5, -0.5, 1.0]).view(1, 3, 1, 1).expand(2, 3, 64, 64)
    gray = gray_resize_for_identity(rgb)
    assert gray.shape == (2, 1, 128, 128)
    torch.testing.assert_close(gray, torch.full_like(gray, 0.2989 * 0.5 - 0.5870 * 0.5 + 0.1140 * 1.0))
    # 256 -> 128 bilinear (align_corners=False, no antialias) of a ramp: output j samples input 2j + 0.5
    ramp = torch.arange(256, dtype=torch.float32).view(1, 1, 1, 256).expand(1, 3, 256, 256)
    expected = (0.2989 + 0.5870 + 0.1140) * (2 * torch.arange(128, dtype=torch.float32) + 0.5)
    torch.testing.assert_close(gray_resize_for_identity(ramp)[0, 0, 7], expected)


def test_identity_loss():
    torch.manual_seed(0)
    arcface = nn.Sequential(nn.Flatten(), nn.Linear(128 * 128, 4)).requires_grad_(False)
    grad_modes = []
    arcface.register_forward_pre_hook(lambda module, args: grad_modes.append(torch.is_grad_enabled()))
    output = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    gt = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    loss = identity_loss(arcface, output, gt)
    assert grad_modes == [False, True]  # GT embedding without autograd
    with torch.no_grad():
        expected = (arcface(gray_resize_for_identity(output)) - arcface(gray_resize_for_identity(gt))).abs().mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    assert output.grad.abs().sum() > 0 and gt.grad is None


def test_gt_pyramid_and_l1():
    gt = torch.rand(2, 3, 64, 64)
    levels = gt_pyramid(gt, 4)
    assert [lv.shape[-1] for lv in levels] == [8, 16, 32, 64] and levels[-1] is gt
    for small, big in zip(levels[:-1], levels[1:]):
        # exact halving by bilinear (align_corners=False) == 2x2 average
        torch.testing.assert_close(small, F.avg_pool2d(big, 2))
    outs = [lv + 0.25 * (i + 1) for i, lv in enumerate(levels)]
    values = pyramid_l1(outs, levels)
    assert [v.item() for v in values] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    with pytest.raises(ValueError, match="num_levels"):
        pyramid_l1(outs[1:], levels)
    with pytest.raises(ValueError, match="level 0"):
        pyramid_l1(outs[::-1], levels)
