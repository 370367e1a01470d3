"""What a user waits for on this machine: per face, per video frame, per megapixel of background.

Everything runs through the default path (``FaceRestorer`` without speed flags, as ``gfpgan-infer`` builds it)
with seeded random weights of the official shapes: GFPGANv1Clean 512 (channel multiplier 2, the v1.3/v1.4 arch),
RetinaFace-ResNet50, ParseNet and the Real-ESRGAN networks. Random weights cost the same time as the released ones,
except that a random detector finds no face; so detection is timed on its own (the forward and the decoding on a
whole frame) and the face is then restored at known landmarks.

    python benchmarks/bench_pipeline.py                     # 1280x720 frames, 2 threads (torch's default here)
    python benchmarks/bench_pipeline.py --frame 1920 1080 --repeats 5 --json docs/bench_pipeline.json

Rows:
  face          restore one aligned 512 px face (the generator forward, ``restore_faces``)
  detect        RetinaFace on one whole frame (``detect_landmarks``)
  frame         one frame with one face: align, restore, parse mask, paste back, x2 Lanczos background
  frame+detect  the two above: a video frame as ``gfpgan-infer -i clip.mp4`` restores it
  bg x2plus / bg general-x4v3   Real-ESRGAN background, seconds per input megapixel
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gfpgan.archs.gfpgan import GFPGANv1Clean  # noqa: E402
from gfpgan.archs.parsenet import ParseNet  # noqa: E402
from gfpgan.archs.realesrgan import RRDBNet, SRVGGNetCompact  # noqa: E402
from gfpgan.archs.retinaface import RetinaFace  # noqa: E402
from gfpgan.inference import FaceRestorer, face_template  # noqa: E402
from gfpgan.upsample import BackgroundUpsampler  # noqa: E402


def timed(fn, repeats: int, warmup: int = 1) -> dict:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "times_s": [round(t, 4) for t in times]}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frame", type=int, nargs=2, default=(1280, 720), metavar=("W", "H"))
    p.add_argument("--face-px", type=int, default=512, help="side of the face in the frame (its aligned crop)")
    p.add_argument("--bg-px", type=int, default=256, help="side of the square background input timed per MP")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = GFPGANv1Clean(out_size=512, channel_multiplier=2, fix_decoder=False, input_is_latent=True,
                        different_w=True, sft_half=True)  # fmt: skip
    restorer = FaceRestorer(net=net, device="cpu", upscale=2)
    # random weights, same cost (the registry would look for the files); prepared as FaceRestorer prepares them
    restorer._detector = RetinaFace().eval().to(memory_format=restorer.memory_format)
    parser = ParseNet(in_size=512, out_size=512, parsing_ch=19).eval()  # prepared as FaceRestorer._get_parser does
    restorer._parser = parser.fold_batch_norm().to(memory_format=restorer.memory_format)
    rng = np.random.default_rng(0)
    w, h = args.frame
    frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    face = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    points = face_template(args.face_px) + np.array([(w - args.face_px) / 2, (h - args.face_px) / 2])
    rows = {
        "face": timed(lambda: restorer.restore_faces([face]), args.repeats),
        "detect": timed(lambda: restorer.detect_landmarks(frame), args.repeats),
        "frame": timed(lambda: restorer.enhance(frame, landmarks=[points]), args.repeats),
    }
    rows["frame+detect"] = {"median_s": rows["frame"]["median_s"] + rows["detect"]["median_s"]}
    bg = rng.integers(0, 256, (args.bg_px, args.bg_px, 3), dtype=np.uint8)
    megapixels = args.bg_px**2 / 1e6
    for name, model in (
        ("bg x2plus", RRDBNet(3, 3, scale=2, num_feat=64, num_block=23, num_grow_ch=32)),
        ("bg general-x4v3", SRVGGNetCompact(3, 3, num_feat=64, num_conv=32, upscale=4, act_type="prelu")),
    ):
        scale = 2 if "x2" in name else 4
        upsampler = BackgroundUpsampler(net=model.eval(), tile=0, pre_pad=0, device="cpu")
        result = timed(lambda u=upsampler, s=scale: u(bg, s), max(1, args.repeats - 1))
        rows[name] = {**result, "s_per_input_megapixel": result["median_s"] / megapixels}
    report = {
        "frame": [w, h],
        "face_px": args.face_px,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "rows": rows,
    }
    for name, row in rows.items():
        extra = f"  ({row['s_per_input_megapixel']:.1f} s per input MP)" if "s_per_input_megapixel" in row else ""
        print(f"{name:16s} {row['median_s']:8.3f} s{extra}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
