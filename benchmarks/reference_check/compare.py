"""Compare two golden-iteration JSONs (ours from our_iteration.py, the reference's from reference_iteration.py, or
two runs of either): the worst relative difference per group (losses, each network's parameters, each network's
change since the initial weights), against the tolerances of tests/golden_iteration_inputs.py. Exit status 1 when a
group is above its tolerance.

    python benchmarks/reference_check/compare.py OURS.json REFERENCE.json
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

# Loaded by path: only torch at import time, so this runs in either environment.
_path = Path(__file__).resolve().parents[2] / "tests" / "golden_iteration_inputs.py"
_spec = importlib.util.spec_from_file_location("golden_iteration_inputs", _path)
gi = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gi)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    ours, ref = (json.loads(Path(p).read_text(encoding="utf-8")) for p in argv)
    failed = False
    for group, (value, where) in sorted(gi.compare(ours, ref).items()):
        tol = gi.tolerance(group)
        failed |= value > tol
        print(f"{group:36s} worst {value:.2e} (tolerance {tol:.0e}) {'FAIL' if value > tol else 'ok  '} at {where}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
