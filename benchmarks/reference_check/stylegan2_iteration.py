# ruff: noqa: E402  (imports follow the path set-up and the patches on purpose)
"""One StyleGAN2 iteration (D step with R1, G step with path-length regularisation, EMA), ours against BasicSR 1.4.2's
``StyleGAN2Model.optimize_parameters``, on the seeded inputs of tests/golden_stylegan2_inputs.py.

    python benchmarks/reference_check/stylegan2_iteration.py make DIR          # inputs (our environment)
    /tmp/refvenv/bin/python benchmarks/reference_check/stylegan2_iteration.py reference DIR   # -> DIR/ref.json
    python benchmarks/reference_check/stylegan2_iteration.py ours DIR          # -> DIR/ours.json
    python benchmarks/reference_check/stylegan2_iteration.py compare DIR       # worst relative differences; exit 1
    python benchmarks/reference_check/stylegan2_iteration.py golden DIR        # ref.json -> tests/data/...json

The reference side imports only the reference stack (BasicSR's fused leaky ReLU is a CUDA extension: replaced by its
formula; Adam gets the inputs' eps, which StyleGAN2Model cannot pass).
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve()
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO / "tests"))
import golden_stylegan2_inputs as gi  # noqa: E402  (torch only at import)

GOLDEN = REPO / "tests" / "data" / "golden_stylegan2_iteration.json"
# Measured: losses 2.3e-7, parameters 4.8e-8, changes 2.0e-5 (G) / 7.7e-6 (D). The EMA moves by 0.2% of G's step, so
# its change (after - before, both ~1 in float32) carries float32 rounding of the parameter itself: 4.3e-4.
TOLERANCE = {"losses": 1e-6, "params": 1e-6, "deltas": 1e-4, "deltas/net_g_ema": 2e-3}


def reference(folder: Path) -> dict:
    import functools
    import random

    import torch
    import yaml

    torch.set_num_threads(1)

    sys.path.insert(0, str(REPO / "benchmarks"))
    from reference_patches import patch_fused_act

    patch_fused_act(("basicsr.ops.fused_act.fused_act", "basicsr.archs.stylegan2_arch"))
    torch.optim.Adam.__init__ = functools.partialmethod(torch.optim.Adam.__init__, eps=gi.ADAM_EPS)
    from basicsr.models.stylegan2_model import StyleGAN2Model

    raw = yaml.safe_load(gi.SMOKE_OPTIONS.read_text())
    for key, value in gi.OVERRIDES.items():
        node = raw
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    raw["train"]["optim_g"]["lr"] = float(raw["train"]["optim_g"]["lr"])
    raw["train"]["optim_d"]["lr"] = float(raw["train"]["optim_d"]["lr"])
    raw.update(is_train=True, dist=False, num_gpu=0, rank=0, world_size=1)
    raw["path"] = {"pretrain_network_g": None, "pretrain_network_d": None, "experiments_root": str(folder / "ref"),
                   "models": str(folder / "ref"), "training_states": str(folder / "ref"), "log": str(folder / "ref"),
                   "visualization": str(folder / "ref")}  # fmt: skip
    model = StyleGAN2Model(raw)
    nets = torch.load(folder / gi.NETS_FILE, weights_only=True)
    model.net_g.load_state_dict(nets["network_g"])
    model.net_g_ema.load_state_dict(nets["network_g"])
    model.net_d.load_state_dict(nets["network_d"])
    model.feed_data(torch.load(folder / gi.BATCH_FILE, weights_only=True))
    random.seed(gi.STEP_SEED)
    torch.manual_seed(gi.STEP_SEED)
    model.optimize_parameters(gi.ITERATION)
    losses = {k: float(v) for k, v in model.log_dict.items()}
    initial = {"net_g": nets["network_g"], "net_g_ema": nets["network_g"], "net_d": nets["network_d"]}
    after = {
        "net_g": model.net_g.state_dict(),
        "net_g_ema": model.net_g_ema.state_dict(),
        "net_d": model.net_d.state_dict(),
    }
    return {"losses": losses, "params": gi.summarise(after, initial)}


def compare(ours: dict, ref: dict) -> dict[str, float]:
    """Worst relative differences: losses; per network, parameters (sum, norm) and their changes in the step (sum,
    norm), a sum taken relative to the tensor's norm (a sum near zero by cancellation has no relative precision)."""
    worst = {"losses": 0.0}
    for k, v in ref["losses"].items():
        worst["losses"] = max(worst["losses"], abs(ours["losses"][k] - v) / max(abs(v), 1e-12))
    for net, params in ref["params"].items():
        for group, cols in (("params", (0, 1)), ("deltas", (2, 3))):
            key = f"{group}/{net}"
            worst.setdefault(key, 0.0)
            for name, summary in params.items():
                for c in cols:
                    a, b = ours["params"][net][name][c], summary[c]
                    scale = max(abs(b), abs(summary[1 if c < 2 else 3]), 1e-12)  # sums relative to the norm
                    worst[key] = max(worst[key], abs(a - b) / scale)
    return worst


def main() -> int:
    mode, folder = sys.argv[1], Path(sys.argv[2])
    if mode == "make":
        gi.make_inputs(folder)
    elif mode == "reference":
        (folder / "ref.json").write_text(json.dumps(reference(folder), indent=1))
    elif mode == "ours":
        (folder / "ours.json").write_text(json.dumps(gi.run_ours(folder), indent=1))
    elif mode == "compare":
        worst = compare(json.loads((folder / "ours.json").read_text()), json.loads((folder / "ref.json").read_text()))
        bad = False
        for key, value in worst.items():
            limit = TOLERANCE.get(key, TOLERANCE[key.split("/")[0]])
            bad |= value > limit
            print(f"{key:24s} worst relative difference {value:.2e} (tolerance {limit:.0e})")
        return 1 if bad else 0
    elif mode == "golden":
        import torch

        ref = json.loads((folder / "ref.json").read_text())
        ref["_about"] = (
            "BasicSR 1.4.2 StyleGAN2Model.optimize_parameters(16) on tests/golden_stylegan2_inputs.py's inputs "
            f"(benchmarks/reference_check/stylegan2_iteration.py), torch {torch.__version__}, CPU"
        )
        GOLDEN.write_text(json.dumps(ref, indent=1) + "\n")
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
