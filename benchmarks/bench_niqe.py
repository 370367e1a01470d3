"""Benchmark: our vectorised NIQE vs BasicSR 1.4.2's straightforward numpy port, on the same 512x512 image.

The reference runs in a separate interpreter that has BasicSR installed (``--ref-python``, default
``/tmp/refvenv/bin/python``); it is never imported into this process. Both sides are timed as the best of
``--repeat`` calls after one warm-up call, on the same RGB image (saved once as a .npy file; BasicSR gets it as BGR,
its channel order).

    python benchmarks/bench_niqe.py                      # skimage.data.coffee() resized to 512x512
    python benchmarks/bench_niqe.py --image face.png --repeat 20
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

# Single-threaded on both sides (set before numpy/cv2 load their thread pools): on a shared machine, thread pools
# measure the load of other processes, not the algorithm. Pass --threads N to change it (both sides get N).
_THREADS = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1"
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _THREADS

import cv2  # noqa: E402
import numpy as np  # noqa: E402

cv2.setNumThreads(int(_THREADS))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gfpgan.metrics.niqe import calculate_niqe  # noqa: E402

_REFERENCE = r"""
import json, sys, time
import numpy as np, torch
torch.set_num_threads(int(sys.argv[3]))
from basicsr.metrics.niqe import calculate_niqe
img = np.load(sys.argv[1])[..., ::-1]  # RGB -> BGR, BasicSR's order
repeat = int(sys.argv[2])
value = calculate_niqe(img, crop_border=0, convert_to='y')
times = []
for _ in range(repeat):
    start = time.perf_counter()
    calculate_niqe(img, crop_border=0, convert_to='y')
    times.append(time.perf_counter() - start)
import tracemalloc
tracemalloc.start()
calculate_niqe(img, crop_border=0, convert_to='y')
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({"value": float(value), "seconds": min(times), "peak_mib": peak / 2**20}))
"""


def load_image(path: str | None, size: int) -> np.ndarray:
    """(size,size,3) uint8 RGB: the given file, or scikit-image's 'coffee' photograph, resized (bicubic)."""
    if path is None:
        import skimage.data

        img = skimage.data.coffee()
    else:
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"cannot read image {path}")
        img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if img.shape[:2] != (size, size):
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(img)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", help="RGB image file (default: skimage.data.coffee())")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="threads for numpy/OpenCV/torch on both sides")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of ours / reference")
    parser.add_argument("--ref-python", default="/tmp/refvenv/bin/python", help="interpreter with basicsr 1.4.2")
    args = parser.parse_args(argv)

    img = load_image(args.image, args.size)
    ours = calculate_niqe(img)
    ours_times, ref_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "niqe_bench.npy"
        np.save(path, img)
        for _ in range(args.rounds):  # interleaved rounds: both sides see the same machine load
            for _ in range(args.repeat):
                start = time.perf_counter()
                calculate_niqe(img)
                ours_times.append(time.perf_counter() - start)
            run = subprocess.run(
                [args.ref_python, "-c", _REFERENCE, str(path), str(args.repeat), str(args.threads)],
                capture_output=True,
                text=True,
                env=os.environ.copy(),
            )
            if run.returncode != 0:
                raise SystemExit(f"reference run failed ({args.ref_python}):\n{run.stderr[-2000:]}")
            ref = json.loads(run.stdout.strip().splitlines()[-1])
            ref_times.append(ref["seconds"])
    ours_s, ref_s = min(ours_times), min(ref_times)
    tracemalloc.start()  # working memory of one call (numpy arrays, OpenCV outputs), imports excluded
    calculate_niqe(img)
    ours_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()

    source = args.image or "skimage.data.coffee()"
    print(
        f"image {source} at {args.size}x{args.size}; best of {args.rounds}x{args.repeat} calls, {args.threads} thread"
    )
    print(f"  ours    NIQE {ours:.6f}  {ours_s * 1000:8.1f} ms  peak traced memory {ours_peak:7.1f} MiB")
    print(f"  basicsr NIQE {ref['value']:.6f}  {ref_s * 1000:8.1f} ms  peak traced memory {ref['peak_mib']:7.1f} MiB")
    print(
        f"  |difference| {abs(ours - ref['value']):.2e}   speed-up x{ref_s / ours_s:.1f}   "
        f"memory x{ours_peak / ref['peak_mib']:.2f}"
    )


if __name__ == "__main__":
    main()
