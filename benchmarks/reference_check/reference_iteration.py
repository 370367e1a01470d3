# ruff: noqa: E402  (imports follow the monkeypatching on purpose)
"""Two consecutive iterations of the official trainer (gfpgan 1.3.8 GFPGANModel.optimize_parameters(1), then (2)
with R1) on the seeded inputs of tests/golden_iteration_inputs.py; writes the golden-iteration JSON.

Run with the reference environment (bash ../shared/reference/setup-reference-env.sh creates /tmp/refvenv), after
our_iteration.py has written the inputs (each side takes ~30 s on one core):

    python benchmarks/reference_check/our_iteration.py --inputs /tmp/golden --out /tmp/golden/ours.json
    /tmp/refvenv/bin/python benchmarks/reference_check/reference_iteration.py --inputs /tmp/golden \
        --float64 --out /tmp/golden/ref64.json
    python benchmarks/reference_check/compare.py /tmp/golden/ours.json /tmp/golden/ref64.json

The golden data of tests/integration/test_golden_iteration.py is the --float64 run (--out
tests/data/golden_iteration.json): the reference's float32 gradients on the SFT condition branches are ~1e-4 off
(ours ~1e-5), so a float32 golden would measure the reference's rounding; both sides in float64 agree to ~1e-7
(our_iteration.py --float64: the formula check). Without --float64 the reference runs in float32, as trained.

Run-time patches of the 2022-era reference for torch 2 on the CPU (nothing else is changed): BasicSR's fused leaky
ReLU, a CUDA extension, is replaced by its formula; GFPGANModel builds Adam with betas (0**1, 0.99), an int that torch
2 rejects, so Adam casts them to float, and takes eps golden_iteration_inputs.ADAM_EPS (ours gets it from the
options: GFPGANModel passes only lr and betas); the generator runs with randomize_noise=False (the stored noise
buffers, as ours); BasicSR's VGG reads its weights from VGG_PRETRAIN_PATH, pointed at the seeded VGG19 (classifier
unused). The reference's train loop would call update_learning_rate before each iteration: not done here (nor on our
side). Never imported by the project.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import importlib.metadata as md
import importlib.util
import platform
import sys
from pathlib import Path

import torch
import yaml

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[2]
# golden_iteration_inputs imports only torch at import time ("gfpgan" is the official package in this environment).
_spec = importlib.util.spec_from_file_location("golden_iteration_inputs", REPO / "tests" / "golden_iteration_inputs.py")
gi = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gi)

sys.path.insert(0, str(REPO / "benchmarks"))
from reference_patches import patch_fused_act  # noqa: E402

patch_fused_act()
import basicsr.archs.vgg_arch as vgg_arch

_Adam = torch.optim.Adam


class Adam(_Adam):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), **kw):
        kw.setdefault("eps", gi.ADAM_EPS)
        super().__init__(params, lr=lr, betas=tuple(float(b) for b in betas), **kw)


torch.optim.Adam = Adam
from gfpgan.models.gfpgan_model import GFPGANModel

NETS = {  # GFPGANModel attribute -> nets.pt key
    "net_g": "network_g",
    "net_g_ema": "network_g",
    "net_d": "network_d",
    "net_d_left_eye": "network_d_left_eye",
    "net_d_right_eye": "network_d_right_eye",
    "net_d_mouth": "network_d_mouth",
}


def reference_options(inputs: Path, scratch: Path) -> dict:
    with open(gi.SMOKE_OPTIONS, encoding="utf-8") as f:
        o = gi.apply_overrides(yaml.safe_load(f), gi.OVERRIDES)
    o["train"]["perceptual_opt"].pop("vgg_weights", None)  # ours only: the reference reads VGG_PRETRAIN_PATH
    o["train"]["optim_g"]["lr"] = float(o["train"]["optim_g"]["lr"])
    o["path"] = {
        "pretrain_network_identity": str(inputs / gi.ARCFACE_FILE),
        "param_key_identity": None,
        "strict_load_identity": True,
        **{k: str(scratch / k) for k in ("experiments_root", "models", "training_states", "log", "visualization")},
    }
    o.update(is_train=True, dist=False, num_gpu=0, rank=0, world_size=1)
    return o


def full_vgg19(inputs: Path) -> Path:
    """The seeded VGG19 features in a complete torchvision VGG19 state dict (what BasicSR's VGG loads)."""
    import torchvision

    path = inputs / "reference_vgg19.pth"
    if not path.is_file():
        state = torchvision.models.vgg19(weights=None).state_dict()
        state.update(torch.load(inputs / gi.VGG_FEATURES_FILE, weights_only=True))
        torch.save(state, path)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=Path, required=True, help="folder written by our_iteration.py")
    ap.add_argument("--out", type=Path, required=True, help="JSON to write")
    ap.add_argument("--float64", action="store_true", help="networks and batch in float64 (the golden data)")
    args = ap.parse_args()
    dtype = torch.float64 if args.float64 else torch.float32
    inputs = args.inputs.resolve()

    vgg_arch.VGG_PRETRAIN_PATH = str(full_vgg19(inputs))
    model = GFPGANModel(reference_options(inputs, inputs / "refexp"))
    state = torch.load(inputs / gi.NETS_FILE, weights_only=True)
    nets = {name: getattr(model, name) for name in NETS}
    for name, key in NETS.items():
        nets[name].load_state_dict(state[key])
    model.net_g.forward = functools.partial(type(model.net_g).forward, model.net_g, randomize_noise=False)
    for net in [*nets.values(), model.network_identity, model.cri_perceptual]:
        net.to(dtype)  # in place: the optimizers keep their parameters
    initial = {name: {k: p.detach().clone() for k, p in net.named_parameters()} for name, net in nets.items()}
    batch = {k: v.to(dtype) for k, v in torch.load(inputs / gi.BATCH_FILE, weights_only=True).items()}

    iterations = {}
    for it in (1, 2):
        model.feed_data({k: v.clone() for k, v in batch.items()})  # R1 sets requires_grad on model.gt
        model.optimize_parameters(it)
        iterations[str(it)] = {
            "losses": {k: float(v) for k, v in model.log_dict.items()},
            "params": gi.summarise_params(nets, initial),
        }
        print(f"iteration {it}: " + ", ".join(f"{k} {v:.6g}" for k, v in iterations[str(it)]["losses"].items()))

    versions = {p: md.version(p) for p in ("gfpgan", "basicsr", "torch", "torchvision", "numpy")}
    about = {
        "what": "Official GFP-GAN trainer, GFPGANModel.optimize_parameters(1) then (2) (R1 on iteration 2), on the "
        "seeded weights and batch of tests/golden_iteration_inputs.py, on the CPU in "
        f"{str(dtype).removeprefix('torch.')}, 1 thread. Losses: log_dict. "
        "params: {network: {parameter: [sum, L2 norm, sum of change, L2 norm of change]}} in float64, the change "
        "since the initial weights, after each iteration.",
        "produced_by": "benchmarks/reference_check/reference_iteration.py" + (" --float64" if args.float64 else ""),
        "patches": "fused leaky ReLU by its formula; Adam with float betas and eps golden_iteration_inputs.ADAM_EPS "
        f"({gi.ADAM_EPS}); net_g with randomize_noise=False; BasicSR's VGG_PRETRAIN_PATH to the seeded VGG19",
        "versions": versions,
        "python": platform.python_version(),
        "date": datetime.date.today().isoformat(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    gi.dump_results({"_about": about, "iterations": iterations}, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
