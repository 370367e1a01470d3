"""RetinaFace face detector (ResNet-50 backbone) with its inference post-processing.

Checkpoint-compatible with the released ``detection_Resnet50_Final.pth`` (after removing its ``module.`` prefixes):
the sub-module names below (``body``, ``fpn``, ``ssh1..3``, ``ClassHead`` / ``BboxHead`` / ``LandmarkHead``) give the
same state-dict keys and shapes as the published network.

Network: a torchvision ResNet-50 trunk whose stages 2, 3 and 4 (strides 8, 16, 32; 512 / 1024 / 2048 channels) feed a
three-level feature pyramid (1x1 lateral convolutions, nearest upsampling, 3x3 merges, all 256 channels), then an SSH
context module per level, then 1x1 heads with two anchors per position: 2 class logits, 4 box offsets and 10 landmark
offsets per anchor.

:meth:`RetinaFace.detect_faces` runs the published test-time pipeline on one BGR image with values in [0, 255]:
mean (104, 117, 123) subtraction, anchors of sizes (16, 32), (64, 128), (256, 512) on the three levels, SSD-style
decoding with variances (0.1, 0.2), a score threshold, a descending sort and IoU non-maximum suppression. It returns
float32 rows ``[x1, y1, x2, y2, score, lx1, ly1, ..., lx5, ly5]`` (eyes, nose, mouth corners), best score first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torchvision
from torch import nn
from torch.nn import functional as F

__all__ = ["RetinaFace", "prior_boxes"]

ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))  # anchor side lengths (px) on the stride 8 / 16 / 32 levels
STRIDES = (8, 16, 32)
VARIANCES = (0.1, 0.2)  # centre-offset / log-size scale factors of the box encoding
BGR_MEAN = (104.0, 117.0, 123.0)


def _conv_bn(in_ch: int, out_ch: int, kernel_size: int, relu: bool) -> nn.Sequential:
    """Conv (no bias) -> BatchNorm [-> ReLU]; as a Sequential so that the keys read ``<name>.0`` / ``<name>.1``."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel_size, stride=1, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_ch),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class _ResNet50Trunk(nn.Module):
    """torchvision ResNet-50 without its pooling / classifier; returns the outputs of layer2, layer3 and layer4."""

    def __init__(self) -> None:
        super().__init__()
        net = torchvision.models.resnet50(weights=None)
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            self.add_module(name, getattr(net, name))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c2 = self.layer2(self.layer1(x))
        c3 = self.layer3(c2)
        c4 = self.layer4(c3)
        return [c2, c3, c4]


class _FeaturePyramid(nn.Module):
    """Top-down pyramid: 1x1 laterals, the coarser level upsampled (nearest) and added, then a 3x3 merge."""

    def __init__(self, in_channels: Sequence[int], out_ch: int) -> None:
        super().__init__()
        self.output1 = _conv_bn(in_channels[0], out_ch, 1, relu=True)
        self.output2 = _conv_bn(in_channels[1], out_ch, 1, relu=True)
        self.output3 = _conv_bn(in_channels[2], out_ch, 1, relu=True)
        self.merge1 = _conv_bn(out_ch, out_ch, 3, relu=True)
        self.merge2 = _conv_bn(out_ch, out_ch, 3, relu=True)

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        p5 = self.output3(feats[2])
        p4 = self.output2(feats[1])
        p4 = self.merge2(p4 + F.interpolate(p5, size=p4.shape[-2:], mode="nearest"))
        p3 = self.output1(feats[0])
        p3 = self.merge1(p3 + F.interpolate(p4, size=p3.shape[-2:], mode="nearest"))
        return [p3, p4, p5]


class _ContextModule(nn.Module):
    """SSH context module: parallel 3x3, 5x5 (two 3x3) and 7x7 (three 3x3, sharing the first) branches, concatenated
    (1/2, 1/4, 1/4 of the channels) and rectified."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        q = out_ch // 4
        self.conv3X3 = _conv_bn(in_ch, out_ch // 2, 3, relu=False)
        self.conv5X5_1 = _conv_bn(in_ch, q, 3, relu=True)
        self.conv5X5_2 = _conv_bn(q, q, 3, relu=False)
        self.conv7X7_2 = _conv_bn(q, q, 3, relu=True)
        self.conv7x7_3 = _conv_bn(q, q, 3, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shared = self.conv5X5_1(x)
        branches = (self.conv3X3(x), self.conv5X5_2(shared), self.conv7x7_3(self.conv7X7_2(shared)))
        return F.relu(torch.cat(branches, dim=1))


class _AnchorHead(nn.Module):
    """1x1 convolution predicting ``values`` numbers per anchor; output (N, H*W*anchors, values), anchors innermost."""

    def __init__(self, in_ch: int, num_anchors: int, values: int) -> None:
        super().__init__()
        self.num_anchors = num_anchors
        self.values = values
        self.conv1x1 = nn.Conv2d(in_ch, num_anchors * values, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1x1(x).permute(0, 2, 3, 1)
        return out.reshape(out.shape[0], -1, self.values)


def prior_boxes(height: int, width: int) -> torch.Tensor:
    """Anchors (P, 4) as (cx, cy, w, h) relative to the image size, in head-output order (level, row, col, anchor)."""
    rows = []
    for sizes, step in zip(ANCHOR_SIZES, STRIDES):
        fh, fw = math.ceil(height / step), math.ceil(width / step)
        cy, cx = np.meshgrid((np.arange(fh) + 0.5) * step / height, (np.arange(fw) + 0.5) * step / width, indexing="ij")
        cells = np.stack([cx.ravel(), cy.ravel()], axis=1)  # (fh*fw, 2), row-major
        per_size = [np.concatenate([cells, np.tile([s / width, s / height], (len(cells), 1))], axis=1) for s in sizes]
        rows.append(np.stack(per_size, axis=1).reshape(-1, 4))  # each cell's anchors adjacent
    return torch.from_numpy(np.concatenate(rows).astype(np.float32))


def _decode_boxes(loc: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """Offsets (P, 4) -> corner boxes (P, 4) relative to the image size."""
    centre = priors[:, :2] + loc[:, :2] * VARIANCES[0] * priors[:, 2:]
    size = priors[:, 2:] * torch.exp(loc[:, 2:] * VARIANCES[1])
    top_left = centre - size / 2
    return torch.cat([top_left, top_left + size], dim=1)


def _decode_landmarks(offsets: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """Offsets (P, 10) -> five (x, y) points per prior (P, 10) relative to the image size."""
    points = offsets.reshape(-1, 5, 2)
    return (priors[:, None, :2] + points * VARIANCES[0] * priors[:, None, 2:]).reshape(-1, 10)


class RetinaFace(nn.Module):
    """RetinaFace-ResNet50 (inference). ``forward`` returns (box offsets, class probabilities, landmark offsets)."""

    def __init__(self) -> None:
        super().__init__()
        out_ch = 256
        self.target_size, self.max_size = 1600, 2150  # test scale used when use_origin_size=False
        self.body = _ResNet50Trunk()
        self.fpn = _FeaturePyramid((512, 1024, 2048), out_ch)
        self.ssh1 = _ContextModule(out_ch, out_ch)
        self.ssh2 = _ContextModule(out_ch, out_ch)
        self.ssh3 = _ContextModule(out_ch, out_ch)
        self.ClassHead = nn.ModuleList(_AnchorHead(out_ch, 2, 2) for _ in STRIDES)
        self.BboxHead = nn.ModuleList(_AnchorHead(out_ch, 2, 4) for _ in STRIDES)
        self.LandmarkHead = nn.ModuleList(_AnchorHead(out_ch, 2, 10) for _ in STRIDES)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pyramid = self.fpn(self.body(x))
        feats = [ssh(p) for ssh, p in zip((self.ssh1, self.ssh2, self.ssh3), pyramid)]
        loc = torch.cat([head(f) for head, f in zip(self.BboxHead, feats)], dim=1)
        logits = torch.cat([head(f) for head, f in zip(self.ClassHead, feats)], dim=1)
        landmarks = torch.cat([head(f) for head, f in zip(self.LandmarkHead, feats)], dim=1)
        return loc, logits.softmax(dim=-1), landmarks

    def _test_scale(self, height: int, width: int, use_origin_size: bool) -> float:
        if use_origin_size:
            return 1
        scale = float(self.target_size) / float(min(height, width))
        if np.round(scale * max(height, width)) > self.max_size:  # cap the longer side
            scale = float(self.max_size) / float(max(height, width))
        return scale

    @torch.no_grad()
    def detect_faces(
        self,
        image: np.ndarray,
        conf_threshold: float = 0.8,
        nms_threshold: float = 0.4,
        use_origin_size: bool = True,
        memory_format: torch.memory_format = torch.contiguous_format,
    ) -> np.ndarray:
        """Faces in one BGR image (H, W, 3) with values in [0, 255].

        Returns float32 (N, 15): box corners, score, 5 landmarks (x, y), sorted by score (after NMS). With
        ``use_origin_size=False`` the image is first resized (bilinear) so that its shorter side is 1600 px (longer
        side at most 2150 px); coordinates are always in the input image's pixels. ``memory_format``: the input's
        layout (``torch.channels_last`` is ~1.4x faster on a CPU, with the module converted to it too).
        """
        image = np.asarray(image, dtype=np.float32)
        height, width = image.shape[:2]
        scale = self._test_scale(height, width, use_origin_size)
        if scale != 1:
            image = cv2.resize(image, None, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        device = next(self.parameters()).device
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].to(device)
        x = x - torch.tensor(BGR_MEAN, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        loc, probs, landmark_offsets = self(x.contiguous(memory_format=memory_format))

        h, w = x.shape[-2:]
        priors = prior_boxes(h, w).to(device)
        size_xy = torch.tensor([w, h], dtype=torch.float32, device=device)
        boxes = (_decode_boxes(loc[0], priors) * size_xy.repeat(2) / scale).cpu().numpy()
        points = (_decode_landmarks(landmark_offsets[0], priors) * size_xy.repeat(5) / scale).cpu().numpy()
        scores = probs[0, :, 1].cpu().numpy()

        selected = np.where(scores > conf_threshold)[0]
        boxes, points, scores = boxes[selected], points[selected], scores[selected]
        order = scores.argsort()[::-1]
        boxes, points, scores = boxes[order], points[order], scores[order]
        dets = np.concatenate([boxes, scores[:, None]], axis=1).astype(np.float32, copy=False)
        keep = torchvision.ops.nms(torch.from_numpy(dets[:, :4]), torch.from_numpy(dets[:, 4]), nms_threshold)
        keep = keep.numpy()
        return np.concatenate([dets[keep], points[keep]], axis=1)
