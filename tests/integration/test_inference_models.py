"""The detector and parser (gfpgan.archs.retinaface / parsenet) are loaded from the weights registry (never a
downloader): random-weight files in $GFPGAN_WEIGHTS_DIR stand in for detection_Resnet50_Final.pth and
parsing_parsenet.pth, saved in the released files' key layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import tiny_clean

from gfpgan.archs.parsenet import ParseNet
from gfpgan.archs.retinaface import RetinaFace
from gfpgan.inference import FaceRestorer, face_template


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    torch.manual_seed(0)
    detector = RetinaFace()
    # Every prior is a confident face whose 5 landmarks coincide (heads: zero weights, biases only), so the detection
    # path runs fully and every face is then dropped by the 5 px eye-distance rule.
    with torch.no_grad():
        for heads in (detector.ClassHead, detector.BboxHead, detector.LandmarkHead):
            for head in heads:
                head.conv1x1.weight.zero_()
                head.conv1x1.bias.zero_()
        for head in detector.ClassHead:
            head.conv1x1.bias.copy_(torch.tensor([-10.0, 10.0]).repeat(head.num_anchors))
    # DataParallel-style prefixes, as in the released file
    torch.save({f"module.{k}": v for k, v in detector.state_dict().items()}, tmp_path / "detection_Resnet50_Final.pth")
    torch.save(ParseNet(in_size=512, out_size=512, parsing_ch=19).state_dict(), tmp_path / "parsing_parsenet.pth")
    monkeypatch.setenv("GFPGAN_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("GFPGAN_OFFLINE", "1")
    return tmp_path


def test_detector_and_parser_come_from_the_registry(weights_dir):
    net = tiny_clean(16, noise_strength=None)
    r = FaceRestorer(net=net, device="cpu", upscale=1, use_parse=True)
    assert r._detector is None and r._parser is None  # loaded lazily, only when needed
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)

    assert r.detect_landmarks(img) == []  # every detection has its eyes < 5 px apart
    assert isinstance(r._detector, RetinaFace)
    saved = torch.load(weights_dir / "detection_Resnet50_Final.pth", weights_only=True)
    assert all(torch.equal(v, saved[f"module.{k}"]) for k, v in r._detector.state_dict().items())
    cropped, restored, out = r.enhance(img)
    assert cropped == restored == [] and out.shape == img.shape

    # Spread the landmarks (offsets in units of 0.1 prior size): eyes 0.6 prior sizes apart, so faces are kept.
    offsets = torch.tensor([[-3.0, -2.0], [3.0, -2.0], [0.0, 0.0], [-2.0, 3.0], [2.0, 3.0]]).flatten()
    with torch.no_grad():
        for head in r._detector.LandmarkHead:
            head.conv1x1.bias.copy_(offsets.repeat(head.conv1x1.bias.numel() // 10))
    landmarks = r.detect_landmarks(img)
    assert landmarks and all(p.shape == (5, 2) and np.linalg.norm(p[0] - p[1]) >= 5 for p in landmarks)
    assert all(abs(p[0, 1] - p[1, 1]) < 1e-3 and p[0, 0] < p[2, 0] < p[1, 0] for p in landmarks)
    assert len(r.detect_landmarks(img, only_center_face=True)) == 1

    # The parser: loaded strictly from the registry file (a 512 px ParseNet forward takes seconds on a CPU, so the mask
    # logic runs on a stand-in that labels a centred disc as skin (class 1) and the rest as background).
    parser = r._get_parser()
    assert isinstance(parser, ParseNet)
    saved = ParseNet(in_size=512, out_size=512, parsing_ch=19)
    saved.load_state_dict(torch.load(weights_dir / "parsing_parsenet.pth", weights_only=True), strict=True)
    x = torch.rand(1, 3, 64, 64) * 2 - 1  # the file's weights, with BatchNorm folded for inference: same logits
    with torch.no_grad():
        torch.testing.assert_close(parser(x, with_image=False)[0], saved.eval()(x)[0], rtol=1e-4, atol=1e-4)

    class DiscParser(torch.nn.Module):
        def forward(self, x, with_image=True):
            yy, xx = torch.meshgrid(torch.arange(512.0), torch.arange(512.0), indexing="ij")
            disc = ((yy - 256) ** 2 + (xx - 256) ** 2 < 150**2).float()
            logits = torch.zeros(1, 19, 512, 512)
            logits[0, 1], logits[0, 0] = disc, 1 - disc
            return logits, None

    r._parser = DiscParser()
    inverse = np.array([[1.5, 0, 4], [0, 1.5, 3]])
    mask = r._face_mask(np.full((16, 16, 3), 128, np.uint8), inverse, (48, 40))
    assert mask.shape == (48, 40) and mask.min() == 0 and mask.max() <= 1
    assert mask[3 + 12, 4 + 12] > 0.9 and mask[4, 5] < 0.05  # face centre vs crop corner (blurred edge)
    lm = face_template(16) * 1.5 + np.array([4.0, 3.0])
    assert r.enhance(img, landmarks=[lm])[2].shape == img.shape


def test_bg_upsampler_hook_provides_the_background():
    net = tiny_clean(16, noise_strength=None)
    calls = []

    def upsampler(img, outscale):
        calls.append((img.shape, outscale))
        return np.full((img.shape[0] * 2, img.shape[1] * 2, 3), 7, np.uint8)

    r = FaceRestorer(net=net, device="cpu", upscale=2, use_parse=False, bg_upsampler=upsampler)
    img = np.full((30, 40, 3), 200, np.uint8)
    out = r.enhance(img, landmarks=[])[2]
    assert calls == [((30, 40, 3), 2)] and (out == 7).all() and out.shape == (60, 80, 3)
