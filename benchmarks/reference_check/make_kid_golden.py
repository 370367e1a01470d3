"""Write tests/data/metrics_kid_golden.json: torch-fidelity's KID on seeded random feature arrays, the golden values
of our ``kid`` metric (gfpgan/metrics/kid.py).

Run by a developer in an environment with torch-fidelity 0.4 (``pip install torch-fidelity`` into the reference
environment of ../shared/reference/setup-reference-env.sh), from the repository root:

    /tmp/refvenv/bin/python benchmarks/reference_check/make_kid_golden.py

The features are never stored: each set is ``abs(normal(loc, scale, (n, d)))`` from ``numpy.random.default_rng(seed)``
(non-negative like Inception pool features), a recipe the test (tests/unit/test_metrics_kid.py) rebuilds. Called on
them: ``torch_fidelity.metric_kid.kid_features_to_metric`` (subsets drawn with its RandomState, the mean and std of
the subset MMDs) and ``torch_fidelity.metric_kid.kernel_mmd`` (one unbiased MMD^2 with the cubic polynomial kernel,
no subsets). Features are given as float64, as our metric computes; ``float32_value`` records what torch-fidelity
gives for the same features in float32, its usual feature dtype, for comparison.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
from pathlib import Path

import numpy as np
import torch

OUTPUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "metrics_kid_golden.json"

# (name, evaluated set, reference set, subsets, subset_size, seed); a set is (seed, n, d, loc, scale).
CASES = [
    ("inception_like_2048d", (1, 120, 2048, 0.3, 0.5), (2, 150, 2048, 0.35, 0.55), 10, 50, 2020),
    ("same_distribution", (3, 80, 2048, 0.3, 0.5), (4, 90, 2048, 0.3, 0.5), 20, 40, 2020),
    ("subset_is_whole_set", (5, 30, 64, 0.5, 1.0), (6, 45, 64, 0.6, 1.0), 5, 30, 7),
    ("torch_fidelity_defaults", (7, 1000, 8, 0.4, 0.6), (8, 1050, 8, 0.45, 0.6), 100, 1000, 2020),
]
MMD_ONLY = ("inception_like_2048d", 50)  # kernel_mmd on the first 50 features of each set of this case


def features(recipe: tuple) -> np.ndarray:
    seed, n, d, loc, scale = recipe
    return np.abs(np.random.default_rng(seed).normal(loc, scale, (n, d)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from torch_fidelity.metric_kid import (  # the reference; only in the reference environment
        KEY_METRIC_KID_MEAN,
        KEY_METRIC_KID_STD,
        kernel_mmd,
        kid_features_to_metric,
    )

    cases = []
    for name, set_a, set_b, subsets, subset_size, seed in CASES:
        a, b = features(set_a), features(set_b)
        kwargs = {"kid_subsets": subsets, "kid_subset_size": subset_size, "rng_seed": seed, "verbose": False}
        result = kid_features_to_metric(torch.from_numpy(a), torch.from_numpy(b), **kwargs)
        result32 = kid_features_to_metric(torch.from_numpy(a).float(), torch.from_numpy(b).float(), **kwargs)
        cases.append(
            {
                "name": name,
                "features": {"seed": set_a[0], "n": set_a[1], "d": set_a[2], "loc": set_a[3], "scale": set_a[4]},
                "reference": {"seed": set_b[0], "n": set_b[1], "d": set_b[2], "loc": set_b[3], "scale": set_b[4]},
                "subsets": subsets,
                "subset_size": subset_size,
                "seed": seed,
                "mean": result[KEY_METRIC_KID_MEAN],
                "std": result[KEY_METRIC_KID_STD],
                "float32_value": result32[KEY_METRIC_KID_MEAN],
            }
        )
        print(f"{name:<26} KID {result[KEY_METRIC_KID_MEAN]:.10g} +- {result[KEY_METRIC_KID_STD]:.6g} "
              f"(float32 features: {result32[KEY_METRIC_KID_MEAN]:.10g})")  # fmt: skip
    name, rows = MMD_ONLY
    case = next(c for c in CASES if c[0] == name)
    mmd = float(kernel_mmd(features(case[1])[:rows], features(case[2])[:rows]))
    print(f"kernel_mmd on {name}[:{rows}]: {mmd:.10g}")
    golden = {
        "_about": (
            "torch-fidelity KID (metric_kid.kid_features_to_metric, kernel_mmd) on seeded feature arrays "
            "abs(default_rng(seed).normal(loc, scale, (n, d))), float64; written by "
            "benchmarks/reference_check/make_kid_golden.py."
        ),
        "versions": {p: md.version(p) for p in ("torch-fidelity", "numpy", "torch")},
        "cases": cases,
        "kernel_mmd": {"case": name, "rows": rows, "value": mmd},
    }
    args.output.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
