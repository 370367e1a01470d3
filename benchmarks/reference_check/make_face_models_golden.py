"""Record tests/data/face_models_golden.json from the reference facexlib RetinaFace-ResNet50 and ParseNet.

Run in the reference environment (facexlib installed): ``python benchmarks/reference_check/make_face_models_golden.py``.
Both networks get deterministic weights made from their state-dict key names (``fill_state`` of
tests/unit/face_model_inputs.py, shared with the tests), so nothing large is stored: the JSON holds the key / shape
listings, summaries of the raw detector heads and the parser outputs, and the full detection arrays. When gfpgan is
importable too, our modules are run on the same weights and inputs and the largest differences are printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "unit"))
from face_model_inputs import (  # noqa: E402
    RESIZED_MAX,
    RESIZED_TARGET,
    RESIZED_THRESHOLD,
    SEED,
    detector_image,
    fill_state,
    parser_input,
)

N_SAMPLES = 24


def sample_indices(numel: int, salt: int) -> list[int]:
    return sorted(np.random.default_rng(salt).choice(numel, N_SAMPLES, replace=False).tolist())


def summarise(t: torch.Tensor, salt: int) -> dict:
    flat = t.detach().double().flatten()
    idx = sample_indices(flat.numel(), salt)
    return {
        "shape": list(t.shape),
        "mean": flat.mean().item(),
        "abs_mean": flat.abs().mean().item(),
        "channel_means": t.detach().double().transpose(0, 1).flatten(1).mean(1).tolist() if t.ndim == 4 else None,
        "indices": idx,
        "values": flat[idx].tolist(),
    }


def raw_detector_outputs(model) -> tuple[torch.Tensor, ...]:
    x = torch.from_numpy(detector_image().transpose(2, 0, 1).copy())[None]
    x = x - torch.tensor([104.0, 117.0, 123.0]).view(1, 3, 1, 1)
    return model(x)


def key_listing(model) -> list:
    return [[k, list(v.shape)] for k, v in model.state_dict().items()]


def run_all(detector, parser) -> dict:
    with torch.no_grad():
        loc, conf, landmarks = raw_detector_outputs(detector)
        dets = detector.detect_faces(detector_image(), 0.97)
        detector.target_size, detector.max_size = RESIZED_TARGET, RESIZED_MAX
        dets_resized = detector.detect_faces(detector_image(), RESIZED_THRESHOLD, use_origin_size=False)
        mask, image = parser(parser_input())
    return {
        "loc": loc,
        "conf": conf,
        "landmarks": landmarks,
        "detections": np.asarray(dets, dtype=np.float32),
        "detections_resized": np.asarray(dets_resized, dtype=np.float32),
        "parse_mask": mask,
        "parse_image": image,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "tests/data/face_models_golden.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    from facexlib.detection.retinaface import RetinaFace
    from facexlib.parsing.parsenet import ParseNet

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        detector = RetinaFace(network_name="resnet50", half=False, device="cpu")
    parser = ParseNet(in_size=512, out_size=512, parsing_ch=19)
    detector.load_state_dict(fill_state(detector.state_dict()), strict=True)
    parser.load_state_dict(fill_state(parser.state_dict()), strict=True)
    detector.eval(), parser.eval()
    ref = run_all(detector, parser)

    scores = ref["conf"][0, :, 1].numpy()
    print(
        f"priors {scores.size}, above 0.97: {(scores > 0.97).sum()}, closest to 0.97: {np.abs(scores - 0.97).min():.1e}"
    )
    print(f"detections {len(ref['detections'])}, resized path {len(ref['detections_resized'])}")
    golden = {
        "generator": "benchmarks/reference_check/make_face_models_golden.py (facexlib reference)",
        "seed": SEED,
        "retinaface_keys": key_listing(detector),
        "parsenet_keys": key_listing(parser),
        "raw": {name: summarise(ref[name], salt) for salt, name in enumerate(("loc", "conf", "landmarks"))},
        "detections": ref["detections"].tolist(),
        "detections_resized": ref["detections_resized"].tolist(),
        "parse_mask": summarise(ref["parse_mask"], 10),
        "parse_image": summarise(ref["parse_image"], 11),
    }
    Path(args.out).write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1024:.0f} KB)")

    try:
        from gfpgan.archs.parsenet import ParseNet as OurParseNet
        from gfpgan.archs.retinaface import RetinaFace as OurRetinaFace
    except ImportError:
        return
    ours_det, ours_parse = OurRetinaFace(), OurParseNet(in_size=512, out_size=512, parsing_ch=19)
    ours_det.load_state_dict(fill_state(ours_det.state_dict()), strict=True)
    ours_parse.load_state_dict(fill_state(ours_parse.state_dict()), strict=True)
    ours = run_all(ours_det.eval(), ours_parse.eval())
    print(
        "keys/shapes identical:",
        key_listing(ours_det) == golden["retinaface_keys"],
        key_listing(ours_parse) == golden["parsenet_keys"],
    )
    for name, r in ref.items():
        o = ours[name]
        same_shape = tuple(np.shape(o)) == tuple(np.shape(r))
        diff = float(np.abs(np.asarray(o) - np.asarray(r)).max()) if same_shape and np.size(r) else 0.0
        print(f"{name:20s} shape {tuple(np.shape(r))} same shape {same_shape} max |ours - reference| {diff:.3e}")


if __name__ == "__main__":
    main()
