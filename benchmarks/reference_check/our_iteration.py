"""Our two consecutive GFP-GAN iterations on the seeded inputs of tests/golden_iteration_inputs.py, as JSON in the
layout of reference_iteration.py (the reference's key names); or, with --grad-norms, the gradient norm of each loss
term on the trained parameters (G: every generator term; D: GAN loss and R1), which the loss weights of
golden_iteration_inputs.OVERRIDES balance.

    python benchmarks/reference_check/our_iteration.py --inputs /tmp/golden --out /tmp/golden/ours.json
    python benchmarks/reference_check/our_iteration.py --inputs /tmp/golden --grad-norms

The inputs (nets.pt, batch.pt, arcface.pth, vgg19_features.pth) are written to --inputs when nets.pt is missing
there. See reference_iteration.py for the reference side and compare.py for the comparison.
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path

import torch

torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
import golden_iteration_inputs as gi  # noqa: E402
from golden_iteration_ours import build_our_training, run_our_iterations  # noqa: E402


def _grad_norm(loss: torch.Tensor, params: list[torch.Tensor]) -> float:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return sum(float(g.double().norm() ** 2) for g in grads if g is not None) ** 0.5


def grad_norms(inputs_dir: Path) -> dict[str, float]:
    """L2 norm of the gradient of each loss term of iteration 1 (one backward each) on G's trained parameters, and of
    D's GAN loss and R1 term on D's parameters (at the initial weights)."""
    from gfpgan.losses import r1_penalty
    from gfpgan.train import generator_step

    opts, training = build_our_training(inputs_dir)
    nets, step = training.nets, training.step
    # generator_step without its backward and update: the logged losses keep their graphs
    no_backward = types.SimpleNamespace(backward=lambda: None)
    step.scaler = types.SimpleNamespace(scale=lambda loss: no_backward, step=lambda optimizer: None)
    batch = torch.load(Path(inputs_dir) / gi.BATCH_FILE, weights_only=True)
    boxes = {k: batch[k] for k in ("loc_left_eye", "loc_right_eye", "loc_mouth")}
    output, _, log, _ = generator_step(nets, step, batch["lq"], batch["gt"], boxes, 1)
    g_params = [p for p in nets.g.parameters() if p.requires_grad]
    norms = {f"G {k}": _grad_norm(v, g_params) for k, v in log.items() if k != "loss/g/total"}
    pyramid = [v for k, v in log.items() if "pyramid" in k]
    norms["G loss/g/pyramid (all levels)"] = _grad_norm(sum(pyramid), g_params)

    t, d = opts.train, nets.d.requires_grad_(True)
    d_params = list(d.parameters())
    gan = training.crit.gan
    l_d = gan(d(batch["gt"]), True, is_disc=True) + gan(d(output.detach()), False, is_disc=True)
    norms["D loss/d/gan"] = _grad_norm(l_d, d_params)
    gt = batch["gt"].clone().requires_grad_(True)
    norms["D loss/d/r1"] = _grad_norm(t.r1_reg_weight / 2 * r1_penalty(d(gt), gt).sum() * t.net_d_reg_every, d_params)
    return norms


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=Path, required=True, help="folder of the seeded inputs (written if missing)")
    ap.add_argument("--out", type=Path, help="JSON to write (the two iterations)")
    ap.add_argument("--float64", action="store_true", help="networks and batch in float64 (the formula check)")
    ap.add_argument("--grad-norms", action="store_true", help="print the gradient norm of each loss term instead")
    args = ap.parse_args()
    if not (args.inputs / gi.NETS_FILE).is_file():
        gi.write_inputs(args.inputs)
    if args.grad_norms:
        norms = grad_norms(args.inputs)
        for k, v in norms.items():
            print(f"{k:32s} {v:.4g}")
        logged = [v for k, v in norms.items() if k.startswith("G ") and "(all levels)" not in k]
        terms = [v for k, v in norms.items() if k.startswith("G ") and "pyramid_" not in k]
        ratio, ratio_logged = max(terms) / min(terms), max(logged) / min(logged)
        print(f"G: largest / smallest {ratio:.1f} (pyramid as one term), {ratio_logged:.1f} (every logged term)")
        return 0
    start = time.perf_counter()
    results = run_our_iterations(args.inputs, dtype=torch.float64 if args.float64 else torch.float32)
    for it, r in results["iterations"].items():
        print(f"iteration {it}: " + ", ".join(f"{k} {v:.6g}" for k, v in r["losses"].items()))
    print(f"{time.perf_counter() - start:.1f} s")
    if args.out:
        gi.dump_results(results, args.out)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
