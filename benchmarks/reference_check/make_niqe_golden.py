"""Write tests/data/metrics_niqe_basicsr_golden.json: BasicSR 1.4.2's ``calculate_niqe`` on photographs and degraded
images, the golden values of our NIQE ``variant="basicsr"``.

Run by a developer in the reference environment (BasicSR 1.4.2, see ../shared/reference/setup-reference-env.sh),
from the repository root:

    /tmp/refvenv/bin/python benchmarks/reference_check/make_niqe_golden.py

The images are never stored: each case records its recipe (tests/unit/niqe_images.py: a scikit-image photograph or a
seeded synthetic image, then blur / JPEG / down-up-sampling / noise) and the sha256 of the image it gives, so the
test (tests/unit/test_metrics_niqe_variants.py) rebuilds exactly the same pixels or says that it could not. BasicSR
takes BGR images: every image is given to it reversed (our images are RGB). Single-threaded, so the float32 sums of
BasicSR's torch resize are reproducible.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "unit"))

from niqe_images import RECIPES, image_digest, make_image  # noqa: E402

OUTPUT = REPO / "tests" / "data" / "metrics_niqe_basicsr_golden.json"
PROBE_SEED, PROBE_SHAPE = 7, (192, 288)  # a uniform [0,1) float32 array for the float32 arithmetic probes
# Every recipe in BasicSR's default setting (Y, no crop); these also with gray and with a border crop.
EXTRA_SETTINGS = {
    "coffee": [("gray", 0), ("y", 4)],
    "astronaut": [("gray", 0), ("y", 4)],
    "chelsea": [("gray", 0)],
    "colorwheel": [("gray", 0)],
    "ramp_flat": [("gray", 0), ("y", 5)],
    "astronaut_jpeg15": [("gray", 0)],
    "rocket_downup4": [("y", 3)],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")  # BasicSR's deprecated scipy import and empty-slice means on flat blocks
    from basicsr.metrics.niqe import calculate_niqe  # the reference; only importable in the reference environment

    cases = []
    for recipe in RECIPES:
        img = make_image(recipe)
        settings = [("y", 0), *EXTRA_SETTINGS.get(recipe["name"], [])]
        for convert_to, crop_border in settings:
            start = time.perf_counter()
            value = calculate_niqe(img[..., ::-1], crop_border, input_order="HWC", convert_to=convert_to)
            cases.append(
                {
                    "name": recipe["name"],
                    "recipe": recipe,
                    "shape": list(img.shape),
                    "sha256": image_digest(img),
                    "convert_to": convert_to,
                    "crop_border": crop_border,
                    "niqe": float(value),
                }
            )
            print(f"{recipe['name']:<28} {convert_to:<4} crop {crop_border}  {value:.10f}  "
                  f"({time.perf_counter() - start:.1f} s)")  # fmt: skip
    # The float32 arithmetic these values depend on, recorded so the test can tell whether its machine sums the same
    # way: BasicSR's resize is a float32 BLAS matrix-vector product per row (MKL's summation order depends on the CPU
    # and on memory alignment), and its AGGD fit takes float32 numpy means.
    from basicsr.utils.matlab_functions import imresize

    probe = np.random.default_rng(PROBE_SEED).random(PROBE_SHAPE).astype(np.float32)
    probes = {
        "seed": PROBE_SEED,
        "shape": list(PROBE_SHAPE),
        "imresize_half_sha256": hashlib.sha256(np.ascontiguousarray(imresize(probe, 0.5)).tobytes()).hexdigest(),
        "mean_float32": float(np.mean(probe.reshape(-1) - np.float32(0.5))),
    }
    versions = {p: md.version(p) for p in ("basicsr", "numpy", "scipy", "torch", "opencv-python", "scikit-image")}
    golden = {
        "_about": (
            "BasicSR 1.4.2 basicsr.metrics.niqe.calculate_niqe (float32 path) on the images of tests/unit/"
            "niqe_images.py, given as BGR; written by benchmarks/reference_check/make_niqe_golden.py."
        ),
        "versions": versions,
        "float32_probes": probes,
        "cases": cases,
    }
    args.output.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {args.output}")


if __name__ == "__main__":
    main()
