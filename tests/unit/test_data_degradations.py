"""Degradation library: kernels, blur fast paths, noise, JPEG, colour ops, and the full seeded degradation."""

import math

import cv2
import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF

from gfpgan.data import degradations as D


def _img(h=48, w=40, seed=0):
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.random((h, w, 3), dtype=np.float32), (0, 0), 2)
    return np.clip((base - base.min()) / (base.max() - base.min()), 0, 1).astype(np.float32)


@pytest.mark.parametrize("k", [3, 21, 41])
def test_gaussian_kernels_shape_normalisation_symmetry(k):
    iso = D.bivariate_gaussian(k, 2.0)
    assert iso.shape == (k, k) and iso.dtype == np.float32
    assert abs(float(iso.sum()) - 1) < 1e-5
    np.testing.assert_allclose(iso, iso.T, atol=1e-8)
    np.testing.assert_allclose(iso, iso[::-1, ::-1], atol=1e-8)
    assert iso.argmax() == (k * k) // 2  # peak at the centre
    aniso = D.bivariate_gaussian(k, 3.0, 1.0, 0.0, isotropic=False)
    np.testing.assert_allclose(aniso, aniso[::-1], atol=1e-8)  # axis-aligned: mirror symmetric
    np.testing.assert_allclose(aniso, aniso[:, ::-1], atol=1e-8)
    assert aniso[k // 2, k // 2 + 1] > aniso[k // 2 + 1, k // 2]  # wider along x
    rotated = D.bivariate_gaussian(k, 3.0, 1.0, math.pi / 2, isotropic=False)
    np.testing.assert_allclose(rotated, aniso.T, atol=1e-6)
    assert abs(float(rotated.sum()) - 1) < 1e-5


def test_generalized_and_plateau_kernels():
    g = D.bivariate_gaussian(21, 2.0)
    np.testing.assert_allclose(D.bivariate_generalized_gaussian(21, 2.0, 2.0, 0, 1.0), g, atol=1e-7)
    for fn in (D.bivariate_generalized_gaussian, D.bivariate_plateau):
        for beta in (0.5, 1.0, 4.0):
            k = fn(21, 2.5, 1.5, 0.7, beta, isotropic=False)
            assert k.shape == (21, 21) and abs(float(k.sum()) - 1) < 1e-5 and (k >= 0).all()
            np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-8)  # point symmetric
    # heavier tails for smaller beta
    assert D.bivariate_plateau(21, 2, 2, 0, 0.6)[0, 10] > D.bivariate_plateau(21, 2, 2, 0, 4)[0, 10]


def test_sinc_kernel():
    k = D.circular_lowpass_kernel(math.pi / 3, 21)
    assert k.shape == (21, 21) and abs(float(k.sum()) - 1) < 1e-5
    np.testing.assert_allclose(k, k.T, atol=1e-7)
    padded = D.circular_lowpass_kernel(math.pi / 3, 21, pad_to=31)
    assert padded.shape == (31, 31) and padded[:5].sum() == 0
    with pytest.raises(ValueError, match="odd"):
        D.circular_lowpass_kernel(1.0, 20)


def test_random_mixed_kernel_every_type_and_ranges():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(300):
        k, p = D.random_mixed_kernel(rng, D.KERNEL_TYPES, [1] * len(D.KERNEL_TYPES), 21, (0.5, 4), (0.7, 3),
                                     (-1.0, 1.0), (0.5, 4), (1, 2))  # fmt: skip
        seen.add(p["kernel"])
        assert k.shape == (21, 21) and abs(float(k.sum()) - 1) < 1e-4
        if p["kernel"] == "sinc":
            assert math.pi / 5 <= p["cutoff"] <= math.pi
            continue
        assert 0.5 <= p["sigma_x"] <= 4
        if p["kernel"].endswith("aniso"):
            assert 0.7 <= p["sigma_y"] <= 3 and -1 <= p["theta"] <= 1
        else:
            assert p["sigma_y"] == p["sigma_x"] and p["theta"] == 0
        if p["kernel"].startswith("generalized"):
            assert 0.5 <= p["beta"] <= 4
        if p["kernel"].startswith("plateau"):
            assert 1 <= p["beta"] <= 2
    assert seen == set(D.KERNEL_TYPES)
    with pytest.raises(ValueError, match="unknown kernel"):
        D.random_mixed_kernel(rng, ["skew"], [1], 21)


@pytest.mark.parametrize("kernel", [D.bivariate_gaussian(41, 0.3), D.bivariate_gaussian(41, 8.0),
                                    D.bivariate_gaussian(41, 4.0, 1.0, 0.6, isotropic=False),
                                    D.bivariate_plateau(21, 2, 1, 0.3, 2.0, isotropic=False)])  # fmt: skip
def test_blur_fast_paths_equal_filter2d(kernel):
    img = _img(60, 50)
    ref = cv2.filter2D(img, -1, kernel)
    np.testing.assert_allclose(D.blur(img, kernel), ref, atol=2e-6)


@pytest.mark.parametrize("shape,radius", [((70, 90, 3), 6), ((64, 64, 1), 9), ((81, 77, 3), 20)])
def test_dft_correlation_equals_filter2d(shape, radius):
    """The DFT path (large non-separable kernels): random asymmetric kernels catch a flipped or shifted kernel."""
    rng = np.random.default_rng(radius)
    img = rng.random(shape, dtype=np.float32)
    kernel = rng.random((2 * radius + 1, 2 * radius + 1)).astype(np.float32)
    kernel /= kernel.sum()
    ref = cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT_101).reshape(shape)
    out = D._correlate_dft(img, kernel)
    assert out.shape == shape and out.dtype == np.float32
    np.testing.assert_allclose(out, ref, atol=2e-6)


def test_blur_takes_the_dft_path_for_large_anisotropic_kernels(monkeypatch):
    calls = []
    real = D._correlate_dft
    monkeypatch.setattr(D, "_correlate_dft", lambda img, k: calls.append(k.shape) or real(img, k))
    kernel = D.bivariate_gaussian(41, 6.0, 1.5, 0.7, isotropic=False)
    img = _img(96, 80)
    np.testing.assert_allclose(D.blur(img, kernel), cv2.filter2D(img, -1, kernel), atol=2e-6)
    assert calls and calls[0][0] > 2 * D._DFT_MIN_RADIUS
    calls.clear()
    D.blur(img, D.bivariate_gaussian(41, 6.0))  # isotropic: separable, no DFT
    assert not calls


def test_gaussian_noise_statistics_and_gray():
    img = np.full((200, 200, 3), 0.5, np.float32)
    out = D.add_gaussian_noise(img, 10.0, np.random.default_rng(0))
    assert out.dtype == np.float32 and abs(float((out - img).std()) - 10 / 255) < 1e-3
    gray = D.add_gaussian_noise(img, 10.0, np.random.default_rng(0), gray_noise=True)
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])
    clipped = D.add_gaussian_noise(np.ones((20, 20, 3), np.float32), 50, np.random.default_rng(1))
    assert clipped.max() <= 1 and clipped.min() >= 0
    rounded = D.add_gaussian_noise(img, 5, np.random.default_rng(1), rounds=True)
    np.testing.assert_allclose(rounded * 255, np.round(rounded * 255), atol=1e-4)
    _, p = D.random_add_gaussian_noise(img, np.random.default_rng(2), (3, 7), gray_prob=1.0)
    assert 3 <= p["noise_sigma"] <= 7 and p["noise_gray"] is True


def test_poisson_noise():
    img = _img(64, 64)
    out = D.add_poisson_noise(img, 1.0, np.random.default_rng(0))
    assert out.shape == img.shape and out.dtype == np.float32 and 0 < float(np.abs(out - img).mean()) < 0.1
    gray = D.add_poisson_noise(img, 1.0, np.random.default_rng(0), gray_noise=True)
    noise = gray - img
    mask = (gray > 0.01).all(2) & (gray < 0.99).all(2)  # away from clipping the noise is shared
    np.testing.assert_allclose(noise[mask][:, 0], noise[mask][:, 1], atol=1e-6)
    zero = D.add_poisson_noise(img, 0.0, np.random.default_rng(0))
    np.testing.assert_array_equal(zero, img)
    _, p = D.random_add_poisson_noise(img, np.random.default_rng(3), (0.1, 0.2))
    assert 0.1 <= p["poisson_scale"] <= 0.2


def test_jpeg_integer_quality_and_8bit_grid():
    img = _img(64, 64)
    low, high = D.add_jpeg_compression(img, 10), D.add_jpeg_compression(img, 95)
    assert np.abs(low - img).mean() > np.abs(high - img).mean()
    np.testing.assert_array_equal(low * 255, np.round(low * 255))
    np.testing.assert_array_equal(D.add_jpeg_compression(img, 70.9), D.add_jpeg_compression(img, 70))  # int cast
    ref_u8 = cv2.imdecode(
        cv2.imencode(".jpg", np.round(img * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 60])[1], 1
    )
    np.testing.assert_array_equal(D.add_jpeg_compression(img, 60), ref_u8.astype(np.float32) / 255)
    out, p = D.random_add_jpeg_compression(img, np.random.default_rng(0), (60, 100))
    assert isinstance(p["jpeg_quality"], int) and 60 <= p["jpeg_quality"] < 100


@pytest.mark.parametrize("name,factor", [("brightness", 1.3), ("contrast", 0.6), ("saturation", 1.4),
                                         ("hue", 0.08), ("hue", -0.1)])  # fmt: skip
def test_color_ops_match_torchvision(name, factor):
    img = _img(32, 32)
    img[:4] = 0.5  # gray pixels (hue undefined)
    rgb = torch.from_numpy(img[:, :, ::-1].copy()).permute(2, 0, 1)
    ref = getattr(TF, f"adjust_{name}")(rgb, factor).permute(1, 2, 0).numpy()[:, :, ::-1]
    np.testing.assert_allclose(getattr(D, f"adjust_{name}")(img, factor), ref, atol=2e-6)


def test_color_jitter_shift_gray_and_pt():
    img = _img()
    out, p = D.color_jitter_shift(img, 20 / 255, np.random.default_rng(0))
    shift = np.array(p["jitter_shift_bgr"], np.float32)
    assert (np.abs(shift) <= 20 / 255).all()
    inside = ((img + shift) > 0).all(2) & ((img + shift) < 1).all(2)
    np.testing.assert_allclose((out - img)[inside], np.broadcast_to(shift, img.shape)[inside], atol=1e-6)
    g = D.to_gray(img)
    assert g.shape == img.shape and np.array_equal(g[..., 0], g[..., 2])
    out, p = D.color_jitter_pt(img, np.random.default_rng(0))
    assert sorted(p["jitter_order"]) == ["brightness", "contrast", "hue", "saturation"]
    assert 0.5 <= p["brightness"] <= 1.5 and 0.5 <= p["contrast"] <= 1.5
    assert 0 <= p["saturation"] <= 1.5 and -0.1 <= p["hue"] <= 0.1
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    _, p = D.color_jitter_pt(img, np.random.default_rng(0), brightness=None, hue=None)
    assert "brightness" not in p and "hue" not in p


def test_degrade_ranges_branches_and_determinism():
    img = _img(64, 64)
    settings = D.DegradationSettings(kernel_list=("iso", "aniso", "generalized_iso", "plateau_aniso"),
                                     kernel_prob=(1, 1, 1, 1), color_jitter_prob=0.5, color_jitter_pt_prob=0.5,
                                     gray_prob=0.3, gt_gray=True)  # fmt: skip
    seen, grays = set(), 0
    for i in range(60):
        lq, gt, p = D.degrade(img, np.random.default_rng([0, 0, i]), settings)
        assert lq.shape == img.shape and lq.dtype == np.float32
        np.testing.assert_array_equal(lq * 255, np.round(lq * 255))  # on the 8-bit grid
        assert 0.1 <= p["sigma_x"] <= 10 and 0.8 <= p["downsample_scale"] <= 8
        assert 0 <= p["noise_sigma"] <= 20 and 60 <= p["jpeg_quality"] <= 100
        assert p["lq_size"] == [int(64 // p["downsample_scale"])] * 2
        seen.add(p["kernel"])
        seen |= {k for k in ("jitter_shift_bgr", "jitter_order", "gray") if k in p}
        if p.get("gray"):
            grays += 1
            assert np.array_equal(lq[..., 0], lq[..., 1]) or "jitter_order" in p
            assert np.array_equal(gt[..., 0], gt[..., 1])  # gt_gray
        else:
            assert gt is img
    assert seen >= {"iso", "aniso", "generalized_iso", "plateau_aniso", "jitter_shift_bgr", "jitter_order", "gray"}
    a = D.degrade(img, np.random.default_rng([3, 1, 4]), settings)
    b = D.degrade(img, np.random.default_rng([3, 1, 4]), settings)
    assert np.array_equal(a[0], b[0]) and a[2] == b[2]
    c = D.degrade(img, np.random.default_rng([3, 2, 4]), settings)
    assert not np.array_equal(a[0], c[0])
    none = D.degrade(img, np.random.default_rng(0), D.DegradationSettings(noise_range=None, jpeg_range=None))[2]
    assert "noise_sigma" not in none and "jpeg_quality" not in none


def test_settings_validation():
    with pytest.raises(ValueError, match="odd"):
        D.DegradationSettings(blur_kernel_size=40)
    with pytest.raises(ValueError, match="differ in length"):
        D.DegradationSettings(kernel_list=("iso",), kernel_prob=(0.5, 0.5))
