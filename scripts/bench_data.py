"""Throughput of ONE FFHQDegradationDataset worker at 512 px with the official GFPGAN options, ours vs the reference.

Both sides read the same synthetic 512 faces (generated in a temporary folder) in the same process layout (one
worker = the main process, no DataLoader) and are timed over the same number of samples after a warm-up. The reference
side (GFPGAN 1.3.8 + BasicSR 1.4.2) runs in a subprocess with --reference-python; it is skipped if that is missing.

    python scripts/bench_data.py [--num-images 16] [--samples 48] [--reference-python /tmp/refvenv/bin/python]

Prints one JSON object: samples/s of ours and of the reference, and the speed-up.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import torch  # noqa: E402

from gfpgan.data.ffhq_degradation import FFHQDegradationDataset  # noqa: E402
from gfpgan.data.synthetic import make_synthetic_faces  # noqa: E402

OFFICIAL = dict(
    io_backend={"type": "disk"}, use_hflip=True, mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5], out_size=512,
    blur_kernel_size=41, kernel_list=["iso", "aniso"], kernel_prob=[0.5, 0.5], blur_sigma=[0.1, 10],
    downsample_range=[0.8, 8], noise_range=[0, 20], jpeg_range=[60, 100], color_jitter_prob=0.3,
    color_jitter_shift=20, color_jitter_pt_prob=0.3, gray_prob=0.01,
)  # fmt: skip

# Runs under the reference environment; it only times the reference dataset on the given folder.
REFERENCE_SNIPPET = r"""
import json, random, sys, time
import numpy as np, torch
from gfpgan.data.ffhq_degradation_dataset import FFHQDegradationDataset
opt = json.loads(sys.argv[1]); samples = int(sys.argv[2]); warmup = int(sys.argv[3])
random.seed(0); np.random.seed(0); torch.manual_seed(0)
ds = FFHQDegradationDataset(opt)
for i in range(warmup):
    ds[i % len(ds)]
start = time.perf_counter()
for i in range(samples):
    ds[i % len(ds)]
print(json.dumps({"samples_per_s": samples / (time.perf_counter() - start)}))
"""


def bench_ours(root: str, samples: int, warmup: int) -> float:
    ds = FFHQDegradationDataset(dataroot_gt=root, **OFFICIAL)
    for i in range(warmup):
        ds[(i % len(ds), 99)]
    start = time.perf_counter()
    for i in range(samples):
        ds[(i % len(ds), i // len(ds))]
    return samples / (time.perf_counter() - start)


def bench_reference(python: str, root: str, samples: int, warmup: int) -> float | None:
    if not os.path.isfile(python):
        print(f"reference python {python} not found: reference side skipped", file=sys.stderr)
        return None
    opt = {"dataroot_gt": root, **OFFICIAL}
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "")}
    env = {k: v for k, v in env.items() if v}
    proc = subprocess.run([python, "-c", REFERENCE_SNIPPET, json.dumps(opt), str(samples), str(warmup)],
                          capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())  # fmt: skip
    if proc.returncode != 0:
        print(f"reference run failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])["samples_per_s"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-images", type=int, default=16)
    parser.add_argument("--samples", type=int, default=48, help="timed samples per side")
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="torch/OpenCV threads on both sides (1 = a worker)")
    parser.add_argument("--reference-python", default="/tmp/refvenv/bin/python")
    parser.add_argument("--rounds", type=int, default=2, help="alternate ours/reference this many times, keep best")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "faces")
        make_synthetic_faces(root, args.num_images, 512, seed=0)
        for extra in ("components.json", "synthetic.json"):  # only images in the folder (the reference scans it)
            os.remove(os.path.join(root, extra))
        ours, ref = [], []
        for _ in range(args.rounds):
            ours.append(bench_ours(root, args.samples, args.warmup))
            r = bench_reference(args.reference_python, root, args.samples, args.warmup)
            if r is not None:
                ref.append(r)
    result = {
        "size": 512,
        "samples": args.samples,
        "threads": args.threads,
        "ours_samples_per_s": round(max(ours), 2),
        "reference_samples_per_s": round(max(ref), 2) if ref else None,
        "speedup": round(max(ours) / max(ref), 2) if ref else None,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
