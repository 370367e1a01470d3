"""Throughput of ONE FFHQDegradationDataset worker at 512 px with the official GFPGAN options, ours vs the reference.

Both sides read the same synthetic 512 faces (generated in a temporary folder), each in a fresh process laid out as
one DataLoader worker (no DataLoader around it), and are timed over the same number of samples after a warm-up,
alternating sides for ``--rounds`` rounds and keeping each side's best. Ours runs the way its workers run
(``gfpgan.data.worker.worker_init``, which keeps freed image buffers in the heap); the reference (GFPGAN 1.3.8 +
BasicSR 1.4.2, in a subprocess with --reference-python; skipped if that is missing) runs as shipped. For a fair split
of where the speed comes from, both sides are also timed with the other heap setting: ours without the tuning, and
the reference with the same glibc settings given through the environment.

    python benchmarks/bench_data.py [--num-images 16] [--samples 48] [--reference-python /tmp/refvenv/bin/python]

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
from gfpgan.utils.malloc import MMAP_THRESHOLD, TRIM_THRESHOLD  # noqa: E402

OFFICIAL = dict(
    io_backend={"type": "disk"}, use_hflip=True, mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5], out_size=512,
    blur_kernel_size=41, kernel_list=["iso", "aniso"], kernel_prob=[0.5, 0.5], blur_sigma=[0.1, 10],
    downsample_range=[0.8, 8], noise_range=[0, 20], jpeg_range=[60, 100], color_jitter_prob=0.3,
    color_jitter_shift=20, color_jitter_pt_prob=0.3, gray_prob=0.01,
)  # fmt: skip

# glibc's environment spelling of what gfpgan.utils.malloc.tune_malloc sets with mallopt
TUNED_HEAP_ENV = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD), "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)}

# The timed part, shared by both sides (appended to each side's set-up below): --workers 0 calls the dataset in this
# process (one worker's work); N > 0 pulls batches of 3 through a DataLoader with N workers (persistent, random
# indices), so transfer and collation count too.
TIMING = r"""
workers = int(sys.argv[5])
if workers == 0:
    for i in range(warmup):
        fetch(i % len(ds), 99)
    start = time.perf_counter()
    for i in range(samples):
        fetch(i % len(ds), i // len(ds))
else:
    from torch.utils.data import DataLoader, RandomSampler
    sampler = RandomSampler(ds, replacement=True, num_samples=10**9, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(ds, batch_size=3, sampler=sampler, num_workers=workers, worker_init_fn=init,
                        persistent_workers=True)
    batches = iter(loader)
    for _ in range(max(warmup, 2 * workers)):
        next(batches)
    start = time.perf_counter()
    for _ in range(-(-samples // 3)):
        next(batches)
    samples = -(-samples // 3) * 3
rate = samples / (time.perf_counter() - start)
import resource
if workers:
    del batches, loader  # ends the workers, so their peak RSS is reported under RUSAGE_CHILDREN
    import gc; gc.collect()
    rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest worker
else:  # VmHWM: ru_maxrss of an exec'd child would include this script's parent's size at fork
    with open("/proc/self/status") as f:
        rss_kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
print(json.dumps({"samples_per_s": rate, "peak_rss_mib": rss_kib / 1024}))
"""

# Our side's set-up (our interpreter): the worker set-up our DataLoaders use.
OURS_SNIPPET = (
    r"""
import json, sys, time
sys.path.insert(0, sys.argv[6])
import cv2, torch
from gfpgan.data.ffhq_degradation import FFHQDegradationDataset
from gfpgan.data.worker import worker_init
opt = json.loads(sys.argv[1]); samples = int(sys.argv[2]); warmup = int(sys.argv[3]); threads = int(sys.argv[4])
torch.set_num_threads(threads); cv2.setNumThreads(threads)
init = worker_init if opt.pop("tune_malloc") else None
if init is not None and int(sys.argv[5]) == 0:
    init(0)  # this process is the worker
ds = FFHQDegradationDataset(**opt)
def fetch(index, epoch):
    return ds[(index, epoch)]
"""
    + TIMING
)

# The reference's set-up (reference interpreter): its dataset as shipped, global seeds as BasicSR sets them.
REFERENCE_SNIPPET = (
    r"""
import json, random, sys, time
import cv2, numpy as np, torch
from gfpgan.data.ffhq_degradation_dataset import FFHQDegradationDataset
opt = json.loads(sys.argv[1]); samples = int(sys.argv[2]); warmup = int(sys.argv[3]); threads = int(sys.argv[4])
torch.set_num_threads(threads); cv2.setNumThreads(threads)
random.seed(0); np.random.seed(0); torch.manual_seed(0)
init = None
ds = FFHQDegradationDataset(opt)
def fetch(index, epoch):
    return ds[index]
"""
    + TIMING
)


def _run(python: str, snippet: str, args: list[str], threads: int, extra_env: dict[str, str]) -> dict | None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(OMP_NUM_THREADS=str(threads), **extra_env)
    proc = subprocess.run([python, "-c", snippet, *args], capture_output=True, text=True, env=env,
                          cwd=tempfile.gettempdir())  # fmt: skip
    if proc.returncode != 0:
        print(f"{python}: benchmark run failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_ours(root: str, samples: int, warmup: int, threads: int, workers: int, tune_malloc: bool) -> dict | None:
    opt = {"dataroot_gt": root, **OFFICIAL, "tune_malloc": tune_malloc}
    args = [json.dumps(opt), str(samples), str(warmup), str(threads), str(workers), str(ROOT)]
    return _run(sys.executable, OURS_SNIPPET, args, threads, {})


def bench_reference(
    python: str, root: str, samples: int, warmup: int, threads: int, workers: int, tuned_heap: bool
) -> dict | None:
    if not python:
        return None
    if not os.path.isfile(python):
        print(f"reference python {python} not found: reference side skipped", file=sys.stderr)
        return None
    opt = {"dataroot_gt": root, **OFFICIAL}
    args = [json.dumps(opt), str(samples), str(warmup), str(threads), str(workers)]
    return _run(python, REFERENCE_SNIPPET, args, threads, TUNED_HEAP_ENV if tuned_heap else {})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-images", type=int, default=16)
    parser.add_argument("--samples", type=int, default=48, help="timed samples per side")
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="torch/OpenCV threads on both sides (1 = a worker)")
    parser.add_argument("--reference-python", default="/tmp/refvenv/bin/python")
    parser.add_argument("--no-reference", action="store_true", help="time our side only")
    parser.add_argument("--workers", type=int, default=0, help="0: one worker's work in-process; N: a DataLoader "
                        "with N workers, batch 3")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=2, help="alternate ours/reference this many times, keep best")
    args = parser.parse_args(argv)
    if args.no_reference:
        args.reference_python = ""
    runs: dict[str, list[dict]] = {"ours": [], "ours_untuned_heap": [], "reference": [], "reference_tuned_heap": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "faces")
        make_synthetic_faces(root, args.num_images, 512, seed=0)
        for extra in ("components.json", "synthetic.json"):  # only images in the folder (the reference scans it)
            os.remove(os.path.join(root, extra))
        for _ in range(args.rounds):
            common = (root, args.samples, args.warmup, args.threads, args.workers)
            for key, value in (
                ("ours", bench_ours(*common, True)),
                ("reference", bench_reference(args.reference_python, *common, False)),
                ("ours_untuned_heap", bench_ours(*common, False)),
                ("reference_tuned_heap", bench_reference(args.reference_python, *common, True)),
            ):
                if value is not None:
                    runs[key].append(value)
    if not runs["ours"]:
        raise SystemExit("our side failed (see above)")
    best = {k: max(r["samples_per_s"] for r in v) if v else None for k, v in runs.items()}
    peak = {k: max(r["peak_rss_mib"] for r in v) if v else None for k, v in runs.items()}

    def ratio(a: dict, x: str, y: str) -> float | None:
        return round(a[x] / a[y], 2) if a[x] and a[y] else None

    def rounded(v: float | None) -> float | None:
        return None if v is None else round(v, 2)

    result = {
        "size": 512,
        "samples": args.samples,
        "threads": args.threads,
        "loader_workers": args.workers,
        "ours_samples_per_s": rounded(best["ours"]),
        "reference_samples_per_s": rounded(best["reference"]),
        "speedup": ratio(best, "ours", "reference"),
        "ours_untuned_heap_samples_per_s": rounded(best["ours_untuned_heap"]),
        "reference_tuned_heap_samples_per_s": rounded(best["reference_tuned_heap"]),
        "speedup_same_heap_tuned": ratio(best, "ours", "reference_tuned_heap"),
        "speedup_same_heap_default": ratio(best, "ours_untuned_heap", "reference"),
        # peak RSS of the process doing the work (with --workers, of the largest worker), MiB
        "ours_peak_rss_mib": rounded(peak["ours"]),
        "reference_peak_rss_mib": rounded(peak["reference"]),
        "memory_vs_reference": ratio(peak, "ours", "reference"),
        "ours_untuned_heap_peak_rss_mib": rounded(peak["ours_untuned_heap"]),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
