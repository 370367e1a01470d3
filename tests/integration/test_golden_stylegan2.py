"""One StyleGAN2 iteration of ours equals BasicSR 1.4.2's StyleGAN2Model.optimize_parameters (tests/data/
golden_stylegan2_iteration.json, recorded by benchmarks/reference_check/stylegan2_iteration.py): every loss value
and every parameter of G, its EMA and D after the step, on the same seeded weights, batch and random draws. No
reference package is needed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks" / "reference_check"))
import golden_stylegan2_inputs as gi  # noqa: E402
from stylegan2_iteration import TOLERANCE, compare  # noqa: E402


def test_stylegan2_iteration_equals_basicsr(tmp_path, single_thread):
    golden = json.loads((REPO / "tests" / "data" / "golden_stylegan2_iteration.json").read_text())
    gi.make_inputs(tmp_path)
    ours = gi.run_ours(tmp_path)
    assert set(ours["losses"]) == set(golden["losses"]) == set(gi.LOSS_NAMES.values())  # R1 and path reg both ran
    worst = compare(ours, golden)
    over = {k: v for k, v in worst.items() if v > TOLERANCE.get(k, TOLERANCE[k.split("/")[0]])}
    assert not over, f"beyond tolerance: {over} (all: {worst})"
