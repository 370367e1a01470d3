"""Throughput of ONE FFHQDegradationDataset worker at 512 px with the official GFPGAN options, ours vs the reference.

Both sides read the same synthetic 512 faces (generated in a temporary folder), each in a fresh process laid out as
one DataLoader worker (no DataLoader around it), and are timed over the same number of samples after a warm-up,
alternating sides for ``--rounds`` rounds and keeping each side's best. Ours runs the way its workers run
(``gfpgan.data.worker.worker_init``, which keeps freed image buffers in the heap); the reference (GFPGAN 1.3.8 +
BasicSR 1.4.2, in a subprocess with --reference-python; skipped if that is missing) runs as shipped. For a fair split
of where the speed comes from, both sides are also timed with the other heap setting: ours without the tuning, and
the reference with the same glibc settings given through the environment.

    python scripts/bench_data.py [--num-images 16] [--samples 48] [--reference-python /tmp/refvenv/bin/python]

Prints one JSON object: samples/s of each side and setting, and the speed-ups.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402

from gfpgan.data.synthetic import make_synthetic_faces  # noqa: E402
from gfpgan.data.worker import MMAP_THRESHOLD, TRIM_THRESHOLD  # noqa: E402

OFFICIAL = dict(
    io_backend={"type": "disk"}, use_hflip=True, mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5], out_size=512,
    blur_kernel_size=41, kernel_list=["iso", "aniso"], kernel_prob=[0.5, 0.5], blur_sigma=[0.1, 10],
    downsample_range=[0.8, 8], noise_range=[0, 20], jpeg_range=[60, 100], color_jitter_prob=0.3,
    color_jitter_shift=20, color_jitter_pt_prob=0.3, gray_prob=0.01,
)  # fmt: skip

# glibc's environment spelling of what gfpgan.data.worker.tune_malloc sets with mallopt
TUNED_HEAP_ENV = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD), "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)}

# Runs under our environment: one worker's set-up, then the timed samples.
OURS_SNIPPET = r"""
import json, sys, time
sys.path.insert(0, sys.argv[5])
import cv2, torch
from gfpgan.data.ffhq_degradation import FFHQDegradationDataset
from gfpgan.data.worker import worker_init
opt = json.loads(sys.argv[1]); samples = int(sys.argv[2]); warmup = int(sys.argv[3]); threads = int(sys.argv[4])
torch.set_num_threads(threads); cv2.setNumThreads(threads)
if opt.pop("tune_malloc"):
    worker_init(0)
ds = FFHQDegradationDataset(**opt)
for i in range(warmup):
    ds[(i % len(ds), 99)]
start = time.perf_counter()
for i in range(samples):
    ds[(i % len(ds), i // len(ds))]
print(json.dumps({"samples_per_s": samples / (time.perf_counter() - start)}))
"""

# Runs under the reference environment; it only times the reference dataset on the given folder.
REFERENCE_SNIPPET = r"""
import json, random, sys, time
import numpy as np, torch
from gfpgan.data.ffhq_degradation_dataset import FFHQDegradationDataset
opt = json.loads(sys.argv[1]); samples = int(sys.argv[2]); warmup = int(sys.argv[3]); threads = int(sys.argv[4])
import cv2
torch.set_num_threads(threads); cv2.setNumThreads(threads)
random.seed(0); np.random.seed(0); torch.manual_seed(0)
ds = FFHQDegradationDataset(opt)
for i in range(warmup):
    ds[i % len(ds)]
start = time.perf_counter()
for i in range(samples):
    ds[i % len(ds)]
print(json.dumps({"samples_per_s": samples / (time.perf_counter() - start)}))
"""


def _run(python: str, snippet: str, args: list[str], threads: int, extra_env: dict[str, str]) -> float | None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(OMP_NUM_THREADS=str(threads), **extra_env)
    proc = subprocess.run([python, "-c", snippet, *args], capture_output=True, text=True, env=env,
                          cwd=tempfile.gettempdir())  # fmt: skip
    if proc.returncode != 0:
        print(f"{python}: benchmark run failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])["samples_per_s"]


def bench_ours(root: str, samples: int, warmup: int, threads: int, tune_malloc: bool) -> float | None:
    opt = {"dataroot_gt": root, **OFFICIAL, "tune_malloc": tune_malloc}
    args = [json.dumps(opt), str(samples), str(warmup), str(threads), str(ROOT)]
    return _run(sys.executable, OURS_SNIPPET, args, threads, {})


def bench_reference(python: str, root: str, samples: int, warmup: int, threads: int, tuned_heap: bool) -> float | None:
    if not os.path.isfile(python):
        print(f"reference python {python} not found: reference side skipped", file=sys.stderr)
        return None
    opt = {"dataroot_gt": root, **OFFICIAL}
    args = [json.dumps(opt), str(samples), str(warmup), str(threads)]
    return _run(python, REFERENCE_SNIPPET, args, threads, TUNED_HEAP_ENV if tuned_heap else {})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-images", type=int, default=16)
    parser.add_argument("--samples", type=int, default=48, help="timed samples per side")
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="torch/OpenCV threads on both sides (1 = a worker)")
    parser.add_argument("--reference-python", default="/tmp/refvenv/bin/python")
    parser.add_argument("--rounds", type=int, default=2, help="alternate ours/reference this many times, keep best")
    args = parser.parse_args(argv)
    runs: dict[str, list[float]] = {"ours": [], "ours_untuned_heap": [], "reference": [], "reference_tuned_heap": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "faces")
        make_synthetic_faces(root, args.num_images, 512, seed=0)
        for extra in ("components.json", "synthetic.json"):  # only images in the folder (the reference scans it)
            os.remove(os.path.join(root, extra))
        for _ in range(args.rounds):
            for key, value in (
                ("ours", bench_ours(root, args.samples, args.warmup, args.threads, True)),
                ("reference", bench_reference(args.reference_python, root, args.samples, args.warmup, args.threads,
                                              False)),
                ("ours_untuned_heap", bench_ours(root, args.samples, args.warmup, args.threads, False)),
                ("reference_tuned_heap", bench_reference(args.reference_python, root, args.samples, args.warmup,
                                                         args.threads, True)),
            ):  # fmt: skip
                if value is not None:
                    runs[key].append(value)
    if not runs["ours"]:
        raise SystemExit("our side failed (see above)")
    best = {k: round(max(v), 2) if v else None for k, v in runs.items()}

    def ratio(a: str, b: str) -> float | None:
        return round(max(runs[a]) / max(runs[b]), 2) if runs[a] and runs[b] else None

    result = {
        "size": 512,
        "samples": args.samples,
        "threads": args.threads,
        "ours_samples_per_s": best["ours"],
        "reference_samples_per_s": best["reference"],
        "speedup": ratio("ours", "reference"),
        "ours_untuned_heap_samples_per_s": best["ours_untuned_heap"],
        "reference_tuned_heap_samples_per_s": best["reference_tuned_heap"],
        "speedup_same_heap_tuned": ratio("ours", "reference_tuned_heap"),
        "speedup_same_heap_default": ratio("ours_untuned_heap", "reference"),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
