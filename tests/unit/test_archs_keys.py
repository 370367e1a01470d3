"""Official checkpoint layouts: every JSON listing in tests/data/keys/ (key listings of the official GFPGAN 1.3.8 /
BasicSR 1.4.2 networks) is reproduced exactly (keys, shapes, requires_grad, counts) and loads with strict=True. Built
on the meta device, so 512-px networks cost nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import gfpgan.archs  # noqa: F401  (registration)
from gfpgan.registry import ARCHS

KEYS_DIR = Path(__file__).resolve().parents[1] / "data" / "keys"
LISTINGS = sorted(KEYS_DIR.glob("*.json"))

PARAM_COUNTS = [
    ("GFPGANv1Clean", dict(out_size=512, channel_multiplier=2, different_w=True, sft_half=True), 86_444_252),
    ("GFPGANv1", dict(out_size=512, channel_multiplier=1, different_w=True, sft_half=True), 76_207_244),
    ("StyleGAN2Discriminator", dict(out_size=512, channel_multiplier=1), 24_030_753),
    ("FacialComponentDiscriminator", {}, 1_110_785),
    ("ResNetArcFace", dict(block="IRBlock", layers=[2, 2, 2, 2], use_se=False), 25_627_081),
    ("StyleGAN2Generator", dict(out_size=512, channel_multiplier=1), 24_860_935),
    ("StyleGAN2GeneratorClean", dict(out_size=512, channel_multiplier=2), 30_276_583),
]


def _build_meta(cls_name: str, kwargs: dict) -> torch.nn.Module:
    with torch.device("meta"):
        # through the registry, as a YAML block would be
        return ARCHS.build({"type": cls_name, **kwargs}, where="network")


def test_all_listings_are_present():
    assert {p.stem for p in LISTINGS} == {
        "FacialComponentDiscriminator",
        "GFPGANv1Clean_512_v1.3_v1.4",
        "GFPGANv1_512_train",
        "ResNetArcFace_IRBlock_2222_noSE",
        "StyleGAN2Discriminator_512_cmul1",
        "StyleGAN2GeneratorClean_512_cmul2",
    }, f"key listings missing from {KEYS_DIR}"


@pytest.mark.parametrize("listing", LISTINGS, ids=[p.stem for p in LISTINGS])
def test_official_key_layout(listing):
    ref = json.loads(listing.read_text())
    net = _build_meta(ref["cls"], ref["kwargs"])
    ours = [(k, list(v.shape)) for k, v in net.state_dict().items()]
    theirs = [(e["key"], e["shape"]) for e in ref["state_dict"]]
    assert dict(ours) == dict(theirs)
    assert [k for k, _ in ours] == [k for k, _ in theirs]  # same order too
    grads = {k: p.requires_grad for k, p in net.named_parameters()}
    assert grads == {e["key"]: e["requires_grad"] for e in ref["state_dict"] if e["kind"] == "param"}
    assert sum(p.numel() for p in net.parameters()) == ref["num_param_elements"]
    assert sum(b.numel() for _, b in net.named_buffers() if b is not None) >= ref["num_buffer_elements"]
    # a state dict shaped from the listing loads strictly
    state = {e["key"]: torch.empty(e["shape"], device="meta") for e in ref["state_dict"]}
    net.load_state_dict(state, strict=True, assign=True)


@pytest.mark.parametrize("cls_name,kwargs,count", PARAM_COUNTS, ids=[c[0] for c in PARAM_COUNTS])
def test_parameter_counts(cls_name, kwargs, count):
    net = _build_meta(cls_name, kwargs)
    assert sum(p.numel() for p in net.parameters()) == count


def test_fix_decoder_freezes_exactly_the_decoder():
    kwargs = dict(out_size=512, channel_multiplier=1, different_w=True, sft_half=True, fix_decoder=True)
    net = _build_meta("GFPGANv1", kwargs)
    frozen = {k for k, p in net.named_parameters() if not p.requires_grad}
    assert frozen == {f"stylegan_decoder.{k}" for k, _ in net.stylegan_decoder.named_parameters()}
    assert len(frozen) == 124
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    assert trainable == 76_207_244 - 24_860_935
