"""Whole-image geometry: a face warped into a larger image by a known similarity transform is aligned back onto the
template and pasted back exactly where it came from (x upscale)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from tiny_models import tiny_clean

from gfpgan.inference import FaceRestorer, face_template

S = 64  # aligned face size
UPSCALE = 2
BACKGROUND = 120


def blob_face() -> np.ndarray:
    """An aligned face (S,S,3) uint8: flat gray with a bright Gaussian blob (sigma 1.5 px) on each template point."""
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    face = np.full((S, S), float(BACKGROUND), np.float32)
    for x, y in face_template(S):
        face += 120 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.5**2))
    return np.repeat(np.clip(face, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)


def centroid(weights: np.ndarray, centre: np.ndarray, radius: int) -> np.ndarray:
    """(x, y) centroid of non-negative ``weights`` in the square window of ``radius`` around ``centre``."""
    cx, cy = np.round(centre).astype(int)
    win = weights[cy - radius : cy + radius + 1, cx - radius : cx + radius + 1]
    yy, xx = np.mgrid[cy - radius : cy + radius + 1, cx - radius : cx + radius + 1]
    return np.array([(win * xx).sum(), (win * yy).sum()]) / win.sum()


@pytest.fixture(scope="module")
def restorer() -> FaceRestorer:
    net = tiny_clean(S, noise_strength=None)
    return FaceRestorer(net=net, upscale=UPSCALE, device="cpu", use_parse=False)


def test_face_is_aligned_and_pasted_back_where_it_came_from(restorer, monkeypatch):
    face = blob_face()
    # crop -> image similarity: scale 1.6, rotation 25 degrees, translation (70.3, 40.6)
    a, scale = math.radians(25), 1.6
    to_image = np.array(
        [[scale * math.cos(a), -scale * math.sin(a), 70.3], [scale * math.sin(a), scale * math.cos(a), 40.6]]
    )
    h, w = 180, 200
    img = cv2.warpAffine(face, to_image, (w, h), flags=cv2.INTER_LINEAR, borderValue=(BACKGROUND,) * 3)
    landmarks = face_template(S) @ to_image[:, :2].T + to_image[:, 2]

    # Restoration = colour inversion, so pasted pixels are told apart from the background at a glance.
    monkeypatch.setattr(restorer, "restore_tensor", lambda x, weight=None: -x)
    cropped, restored, out = restorer.enhance(img, landmarks=[landmarks])

    # 1. alignment: the crop is the original face again (blob centres on the template)
    crop = cropped[0][:, :, 0].astype(np.float32)
    for point in face_template(S):
        assert np.linalg.norm(centroid(np.clip(crop - BACKGROUND, 0, None), point, 4) - point) < 0.2
    assert np.abs(crop[8:-8, 8:-8] - face[8:-8, 8:-8, 0]).mean() < 3

    # 2. paste-back: each inverted (dark) blob lies at upscale * its image position (+ facexlib's 0.5 * upscale
    #    offset, i.e. within 0.5 px of the exact pixel-centre mapping upscale * p + (upscale - 1) / 2)
    assert out.shape == (h * UPSCALE, w * UPSCALE, 3)
    darkness = np.clip((255 - BACKGROUND) - out[:, :, 0].astype(np.float32), 0, None)
    for point in landmarks:
        expected = UPSCALE * point + 0.5 * UPSCALE
        found = centroid(darkness, expected, 8)
        assert np.linalg.norm(found - expected) < 0.35, (found, expected)
    # the face centre is fully replaced by the restored face, far background is the plain Lanczos upscale
    forehead = np.array([S / 2, S / 3])  # a flat point of the crop, > 10 px from every blob
    x, y = np.round(UPSCALE * (to_image[:, :2] @ forehead + to_image[:, 2]) + UPSCALE / 2).astype(int)
    assert abs(int(out[y, x, 0]) - (255 - BACKGROUND)) <= 2
    lanczos = cv2.resize(img, (w * UPSCALE, h * UPSCALE), interpolation=cv2.INTER_LANCZOS4)
    assert np.array_equal(out[:20], lanczos[:20]) and np.array_equal(out[:, -20:], lanczos[:, -20:])


def test_real_generator_whole_image_is_deterministic(restorer):
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 256, (150, 160, 3), dtype=np.uint8), (5, 5), 0)
    landmarks = face_template(S) * 1.5 + np.array([30.0, 20.0])
    first = restorer.enhance(img, landmarks=[landmarks])
    second = restorer.enhance(img, landmarks=[landmarks])
    assert np.array_equal(first[2], second[2]) and np.array_equal(first[1][0], second[1][0])
    lanczos = cv2.resize(img, (320, 300), interpolation=cv2.INTER_LANCZOS4)
    centre = np.round(UPSCALE * landmarks[2] + 1).astype(int)
    window = (slice(centre[1] - 10, centre[1] + 10), slice(centre[0] - 10, centre[0] + 10))
    assert np.abs(first[2][window].astype(int) - lanczos[window]).mean() > 5  # the face was replaced
    assert np.array_equal(first[2][:15], lanczos[:15])  # the background was not


def test_a_1024_px_generator_restores_whole_photos():
    """A 1024 px model (e.g. trained with options/train_gfpgan_1024.yml): the face is aligned to the 1024 template,
    restored at 1024 px and pasted back into the x2 photo; far from the face the photo is the plain upscale."""
    size = 1024
    face = cv2.resize(blob_face(), (size, size), interpolation=cv2.INTER_LINEAR)
    to_image = np.array([[0.8, 0.0, 150.0], [0.0, 0.8, 120.0]])
    h, w = 1100, 1200
    img = cv2.warpAffine(face, to_image, (w, h), flags=cv2.INTER_LINEAR, borderValue=(BACKGROUND,) * 3)
    landmarks = face_template(size) @ to_image[:, :2].T + to_image[:, 2]
    restorer = FaceRestorer(net=tiny_clean(size), upscale=2, device="cpu", use_parse=False)
    assert restorer.out_size == size
    cropped, restored, out = restorer.enhance(img, landmarks=[landmarks])
    assert cropped[0].shape == restored[0].shape == (size, size, 3) and out.shape == (2 * h, 2 * w, 3)
    assert np.abs(cropped[0][64:-64, 64:-64].astype(int) - face[64:-64, 64:-64].astype(int)).mean() < 3
    lanczos = cv2.resize(img, (2 * w, 2 * h), interpolation=cv2.INTER_LANCZOS4)
    assert np.array_equal(out[:100], lanczos[:100])  # above the face: untouched background
    centre = np.round(2 * (to_image[:, :2] @ np.array([size / 2, size / 2]) + to_image[:, 2])).astype(int)
    patch = (slice(centre[1] - 50, centre[1] + 50), slice(centre[0] - 50, centre[0] + 50))
    assert np.abs(out[patch].astype(int) - lanczos[patch].astype(int)).mean() > 1  # the restored face is pasted
