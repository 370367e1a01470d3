"""Our RetinaFace-ResNet50 detector and ParseNet parser against goldens recorded from the reference facexlib.

tests/data/face_models_golden.json comes from benchmarks/reference_check/make_face_models_golden.py: the reference
networks' state-dict key / shape listings, and their outputs with deterministic weights made from the key names
(``fill_state`` of face_model_inputs.py, shared with the generator script) on small seeded inputs. The reference
package is only imported by the optional cross-check at the end, which skips when it is not installed.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from face_model_inputs import (
    RESIZED_MAX,
    RESIZED_TARGET,
    RESIZED_THRESHOLD,
    detector_image,
    fill_state,
    parser_input,
)

from gfpgan.archs.parsenet import ParseNet
from gfpgan.archs.retinaface import RetinaFace, prior_boxes

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "data" / "face_models_golden.json").read_text())

# The generator's constants and input makers (benchmarks/reference_check/make_face_models_golden.py).
RTOL, ATOL = 1e-4, 1e-5  # network outputs
PX_TOL = 1e-3  # detections: boxes and landmarks (pixels); scores use RTOL / ATOL


def key_listing(model: torch.nn.Module) -> list:
    return [[k, list(v.shape)] for k, v in model.state_dict().items()]


@pytest.fixture(scope="module")
def detector() -> RetinaFace:
    model = RetinaFace()
    model.load_state_dict(fill_state(model.state_dict()), strict=True)
    return model.eval()


@pytest.fixture(scope="module")
def parser() -> ParseNet:
    model = ParseNet(in_size=512, out_size=512, parsing_ch=19)
    model.load_state_dict(fill_state(model.state_dict()), strict=True)
    return model.eval()


def check_summary(t: torch.Tensor, golden: dict) -> None:
    assert list(t.shape) == golden["shape"]
    flat = t.detach().double().flatten()
    np.testing.assert_allclose(flat[golden["indices"]].numpy(), golden["values"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(flat.mean().item(), golden["mean"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(flat.abs().mean().item(), golden["abs_mean"], rtol=RTOL, atol=ATOL)
    if golden["channel_means"] is not None:
        means = t.detach().double().transpose(0, 1).flatten(1).mean(1).numpy()
        np.testing.assert_allclose(means, golden["channel_means"], rtol=RTOL, atol=ATOL)


def check_detections(dets: np.ndarray, golden: list) -> None:
    expected = np.asarray(golden, dtype=np.float32).reshape(-1, 15)
    assert dets.dtype == np.float32 and dets.shape == expected.shape
    np.testing.assert_allclose(dets[:, 4], expected[:, 4], rtol=RTOL, atol=ATOL)  # scores (same order)
    np.testing.assert_allclose(dets[:, :4], expected[:, :4], rtol=0, atol=PX_TOL)
    np.testing.assert_allclose(dets[:, 5:], expected[:, 5:], rtol=0, atol=PX_TOL)


def test_state_dict_keys_and_shapes_match_the_reference(detector, parser):
    assert key_listing(detector) == GOLDEN["retinaface_keys"]
    assert key_listing(parser) == GOLDEN["parsenet_keys"]


@torch.no_grad()
def test_detector_head_outputs_match_golden(detector):
    x = torch.from_numpy(detector_image().transpose(2, 0, 1).copy())[None]
    loc, conf, landmarks = detector(x - torch.tensor([104.0, 117.0, 123.0]).view(1, 3, 1, 1))
    for name, t in (("loc", loc), ("conf", conf), ("landmarks", landmarks)):
        check_summary(t, GOLDEN["raw"][name])
    torch.testing.assert_close(conf.sum(-1), torch.ones(1, loc.shape[1]))  # probabilities


def test_detect_faces_matches_golden(detector):
    dets = detector.detect_faces(detector_image(), 0.97)
    check_detections(dets, GOLDEN["detections"])
    assert len(dets) == 10 and (np.diff(dets[:, 4]) <= 0).all() and (dets[:, 4] > 0.97).all()


def test_detect_faces_resized_path_matches_golden(detector):
    detector.target_size, detector.max_size = RESIZED_TARGET, RESIZED_MAX  # 64x80 -> 96x120 (scale 1.5)
    try:
        dets = detector.detect_faces(detector_image(), RESIZED_THRESHOLD, use_origin_size=False)
    finally:
        detector.target_size, detector.max_size = 1600, 2150
    check_detections(dets, GOLDEN["detections_resized"])


def test_detect_faces_without_faces_and_input_types(detector):
    dets = detector.detect_faces(detector_image(), 0.9999)
    assert dets.shape == (0, 15) and dets.dtype == np.float32
    # uint8 input (the caller passes float32) gives the same detections as its float32 copy
    img8 = detector_image().round().astype(np.uint8)
    np.testing.assert_array_equal(
        detector.detect_faces(img8, 0.97), detector.detect_faces(img8.astype(np.float32), 0.97)
    )


def test_prior_boxes_layout():
    priors = prior_boxes(64, 80)
    # 2 anchors per cell on 8x10, 4x5 and 2x3 grids (strides 8, 16, 32; partial cells count)
    assert priors.shape == (2 * (8 * 10 + 4 * 5 + 2 * 3), 4) and priors.dtype == torch.float32
    torch.testing.assert_close(priors[0], torch.tensor([4 / 80, 4 / 64, 16 / 80, 16 / 64]))
    torch.testing.assert_close(priors[1], torch.tensor([4 / 80, 4 / 64, 32 / 80, 32 / 64]))
    torch.testing.assert_close(priors[2], torch.tensor([12 / 80, 4 / 64, 16 / 80, 16 / 64]))  # next column
    torch.testing.assert_close(priors[20], torch.tensor([4 / 80, 12 / 64, 16 / 80, 16 / 64]))  # next row
    torch.testing.assert_close(priors[-1], torch.tensor([80 / 80, 48 / 64, 512 / 80, 512 / 64]))


@torch.no_grad()
def test_parser_outputs_match_golden(parser):
    mask, image = parser(parser_input())
    check_summary(mask, GOLDEN["parse_mask"])
    check_summary(image, GOLDEN["parse_image"])


def test_parser_with_batch_norm_folded_gives_the_same_logits(parser):
    """The inference parser (BatchNorm folded into the convolutions, channels_last, no image head) is the same map."""
    import copy

    folded = copy.deepcopy(parser).fold_batch_norm().to(memory_format=torch.channels_last)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        logits, image = folded(x.contiguous(memory_format=torch.channels_last), with_image=False)
        expected = parser(x)[0]
    assert image is None
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
    with pytest.raises(RuntimeError, match="eval mode"):
        copy.deepcopy(parser).train().fold_batch_norm()


@torch.no_grad()
def test_cross_check_against_installed_reference(detector, parser):
    """Optional: the same weights in the reference facexlib modules give the same outputs (skips without it)."""
    pytest.importorskip("facexlib")
    from facexlib.detection.retinaface import RetinaFace as RefRetinaFace
    from facexlib.parsing.parsenet import ParseNet as RefParseNet

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = RefRetinaFace(network_name="resnet50", half=False, device="cpu")
    ref.load_state_dict(detector.state_dict(), strict=True)
    img = np.random.default_rng(5).uniform(0, 255, (48, 72, 3)).astype(np.float32)
    x = torch.from_numpy(img.transpose(2, 0, 1).copy())[None]
    for a, b in zip(detector(x), ref.eval()(x)):
        torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL)
    for thr in (0.9, 0.97):
        np.testing.assert_allclose(detector.detect_faces(img, thr), ref.detect_faces(img, thr), rtol=0, atol=PX_TOL)

    ref_parser = RefParseNet(in_size=512, out_size=512, parsing_ch=19)
    ref_parser.load_state_dict(parser.state_dict(), strict=True)
    y = torch.from_numpy(np.random.default_rng(6).uniform(-1, 1, (1, 3, 64, 48)).astype(np.float32))
    for a, b in zip(parser(y), ref_parser.eval()(y)):
        torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL)
