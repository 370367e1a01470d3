"""Seeded inputs of the golden training-iteration check: the options, the weights of every network and the batch.

Shared by tests/integration/test_golden_iteration.py (our two iterations against tests/data/golden_iteration.json)
and benchmarks/reference_check/ (which records that file with the official trainer). Everything is drawn from
explicit ``torch.Generator().manual_seed(...)`` streams of ``torch.rand`` (uniform: no transcendental functions, so
the same bits on every CPU), never from the global RNG. Only torch at import time: the reference script loads this
file by path in an environment where ``gfpgan`` is the official package; our package is imported inside functions.

The weights are initialised like real networks (activations O(1), images in the image range), and the loss weights
of OVERRIDES are chosen so that no term dominates the gradient of G (benchmarks/reference_check/our_iteration.py
--grad-norms measures them); the smoke weights would spread them over 3.5 decades (identity 362, GAN 0.11).
"""

from __future__ import annotations

import json
import math
import re
import zlib
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
SMOKE_OPTIONS = REPO / "options" / "smoke" / "train_gfpgan.yml"
SIZE, BATCH = 512, 1  # 512 px: the reference's face_ratio crop scaling is 1 (inactive); batch 1 keeps CPU time low
SEED = 20260512
COMPONENTS = ("left_eye", "right_eye", "mouth")
NETWORKS = ("network_g", "network_d", *(f"network_d_{part}" for part in COMPONENTS), "network_identity")
NETS_FILE, BATCH_FILE, ARCFACE_FILE, VGG_FEATURES_FILE = "nets.pt", "batch.pt", "arcface.pth", "vgg19_features.pth"
RGB_GAIN = 0.2  # on the RGB heads of G (decoder to_rgb*, U-Net toRGB): output std 1.3 instead of 5.5
# Adam's first step is lr * g / (|g| + eps). With the default eps 1e-8, an element whose gradient is below float32
# resolution (26 of G's 333k here have |g| < 1e-8) moves by a rounding-chosen amount in [-lr, lr], which could differ
# on another CPU; with 1e-4 the step is a smooth function of the gradient there (slope lr / eps). The reference takes
# it through its Adam patch: GFPGANModel passes the optimizers no option but lr and betas.
ADAM_EPS = 1e-4

# Option overrides on SMOKE_OPTIONS, identical for both sides ({dotted key: value}; None = the key removed, which is
# how the reference reads it).
OVERRIDES: dict[str, object] = {
    "network_g.out_size": SIZE,
    "network_d.out_size": SIZE,
    "network_g.narrow": 0.0625,
    "network_d.narrow": 0.0625,
    "datasets.train.out_size": SIZE,
    "train.remove_pyramid_loss": None,  # pyramid loss on in both iterations
    **{f"train.{k}.eps": ADAM_EPS for k in ("optim_g", "optim_d", "optim_component")},
    # |gradient of the term on G's parameters| at iteration 1 with these weights (with the smoke weight):
    "train.pixel_opt.loss_weight": 0.5,  # 2.9 (0.1: 0.59)
    # train.pyramid_loss_weight 1 (as smoke): 5.8 for all levels, 0.29 .. 4.3 per level
    "train.perceptual_opt.perceptual_weight": 0.05,  # 3.3 (1: 67)
    "train.perceptual_opt.style_weight": 2.5,  # 4.9 (50: 98)
    "train.gan_opt.loss_weight": 1.5,  # 1.6 (0.1: 0.11)
    "train.gan_component_opt.loss_weight": 0.3,  # left eye 5.7, right eye 0.51, mouth 0.43 (1: 19, 1.7, 1.4)
    "train.comp_style_weight": 4,  # 1.6 (200: 82)
    "train.identity_weight": 0.15,  # 5.4 (10: 362)
    # on D's parameters: R1 0.40 against 1.3 for the GAN loss (10: 1e-4, so the R1 update went unchecked)
    "train.r1_reg_weight": 30000,
}

# Our log keys -> the reference's log_dict keys.
LOSS_NAMES = {
    "loss/g/pixel": "l_g_pix",
    **{f"loss/g/pyramid_{s}": f"l_p_{s}" for s in (8, 16, 32, 64, 128, 256, 512)},
    "loss/g/perceptual": "l_g_percep",
    "loss/g/style": "l_g_style",
    "loss/g/gan": "l_g_gan",
    "loss/g/gan_left_eye": "l_g_gan_left_eye",
    "loss/g/gan_right_eye": "l_g_gan_right_eye",
    "loss/g/gan_mouth": "l_g_gan_mouth",
    "loss/g/comp_style": "l_g_comp_style_loss",
    "loss/g/identity": "l_identity",
    "loss/d/gan": "l_d",
    "d/real_score": "real_score",
    "d/fake_score": "fake_score",
    "loss/d/r1": "l_d_r1",
    "loss/d/left_eye": "l_d_left_eye",
    "loss/d/right_eye": "l_d_right_eye",
    "loss/d/mouth": "l_d_mouth",
}
SCORES = ("real_score", "fake_score")  # mean D logits, not losses: compared as their own group (see compare)

# Relative tolerances of compare() per iteration and group kind (a network's name + kind overrides the kind): ~3x
# (2.8x .. 6x) the worst of four float32 runs against the float64 golden data (ours with 1 and 2 threads and without
# oneDNN, the reference in float32; tests/integration/test_golden_iteration.py lists them). Iteration 2 starts from
# the first update's float32 rounding, amplified by Adam's per-element normalisation: looser. G-EMA moves by
# (1 - decay) * lr per step, a change that the float32 storage of its parameters resolves only to ~1e-2.
TOLERANCES = {
    "1": {"losses": 2e-6, "scores": 3e-6, "params": 5e-5, "deltas": 5e-3, "net_g_ema deltas": 1e-1},
    "2": {"losses": 5e-5, "scores": 1e-4, "params": 2e-4, "deltas": 1e-2, "net_g_ema deltas": 1e-1},
}
# A change below this fraction of the parameter's L2 norm is float32 rounding (the EMA of a frozen decoder weight
# moves by ~3e-8 of it): where the reference's change is that small, ours must be too, and nothing more is compared.
UNCHANGED = 1e-6


# ----------------------------------------------------------------------------------------------------------------------
# Options


def path_overrides(inputs_dir: Path) -> dict[str, object]:
    """OVERRIDES plus the weight files written by write_inputs (our option keys)."""
    inputs_dir = Path(inputs_dir).resolve()
    return {
        **OVERRIDES,
        "train.perceptual_opt.vgg_weights": str(inputs_dir / VGG_FEATURES_FILE),
        "path.pretrain_network_identity": str(inputs_dir / ARCFACE_FILE),
    }


def apply_overrides(opt: dict, overrides: dict[str, object]) -> dict:
    """Set each dotted key of a plain option dict (the reference side); None removes the key."""
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = opt
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return opt


def load_our_options(inputs_dir: Path):
    from gfpgan.options import load_options

    overrides = [f"{k}={json.dumps(v)}" for k, v in path_overrides(inputs_dir).items()]
    return load_options(SMOKE_OPTIONS, overrides, phase="train")[0]


# ----------------------------------------------------------------------------------------------------------------------
# Weights and batch


def _uniform(shape, std: float, gen: torch.Generator) -> torch.Tensor:
    """Zero-mean uniform values of standard deviation ``std``."""
    return (torch.rand(shape, generator=gen) * 2 - 1) * (std * math.sqrt(3))


def seeded_state(net: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """A state dict for ``net``, initialised like a real network; each tensor from its own generator, seeded with
    ``seed`` + the CRC-32 of its key (adding or reordering keys leaves the other tensors unchanged).

    * a tensor that is constant at construction (biases, BN scale / statistics, noise strengths, modulation biases of
      1, PReLU slopes) keeps that value plus uniform noise of std 0.1, so every path is exercised;
    * plain ``nn.Conv2d`` / ``nn.Linear`` (ArcFace, VGG): He scale sqrt(2 / fan_in), biases std 0.1;
    * every other random tensor (equalized-lr weights, which are scaled at run time, the constant input, the stored
      noise): std 1 / lr_mul, as their own initialisation.
    """
    state = {}
    for key, t in net.state_dict().items():
        if not t.is_floating_point():
            state[key] = t.clone()
            continue
        gen = torch.Generator().manual_seed(seed + zlib.crc32(key.encode()))
        path, _, leaf = key.rpartition(".")
        module = net.get_submodule(path)
        plain = isinstance(module, (torch.nn.Conv2d, torch.nn.Linear))
        if plain and leaf == "bias":
            state[key] = _uniform(t.shape, 0.1, gen)
        elif t.numel() == 1 or bool(t.min() == t.max()):
            state[key] = t + _uniform(t.shape, 0.1, gen)
        elif plain:
            state[key] = _uniform(t.shape, math.sqrt(2 / t[0].numel()), gen)
        else:
            state[key] = _uniform(t.shape, 1 / getattr(module, "lr_mul", 1.0), gen)
    return state


def vgg19_features(seed: int) -> dict[str, torch.Tensor]:
    """The ``features.N.*`` entries of a torchvision VGG19 state dict, seeded as in seeded_state."""
    from torchvision.models import vgg

    features = vgg.make_layers(vgg.cfgs["E"])
    return {f"features.{k}": v for k, v in seeded_state(features, seed).items()}


def make_batch() -> dict[str, torch.Tensor]:
    """A smooth random 'face' (gt) and a blurred, noisy copy (lq), in [-1, 1], with fixed component boxes."""
    gen = torch.Generator().manual_seed(SEED + 100)
    coarse = torch.rand(BATCH, 3, 16, 16, generator=gen) * 2 - 1
    gt = F.interpolate(coarse, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    gt = (gt + 0.2 * (torch.rand(BATCH, 3, SIZE, SIZE, generator=gen) * 2 - 1)).clamp(-1, 1)
    small = F.avg_pool2d(gt, 8)
    lq = F.interpolate(small, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    lq = (lq + 0.1 * (torch.rand(BATCH, 3, SIZE, SIZE, generator=gen) * 2 - 1)).clamp(-1, 1)
    boxes = {  # x1, y1, x2, y2 per image (eyes and mouth of a 512 px aligned face)
        "loc_left_eye": [[180.0, 220.0, 250.0, 290.0], [170.0, 210.0, 245.0, 280.0]],
        "loc_right_eye": [[270.0, 220.0, 340.0, 290.0], [265.0, 215.0, 335.0, 285.0]],
        "loc_mouth": [[200.0, 330.0, 320.0, 420.0], [205.0, 325.0, 315.0, 410.0]],
    }
    return {"lq": lq, "gt": gt, **{k: torch.tensor(v[:BATCH]) for k, v in boxes.items()}}


def write_inputs(inputs_dir: Path) -> Path:
    """Write nets.pt ({network key: state dict}), batch.pt, arcface.pth and vgg19_features.pth into inputs_dir."""
    from gfpgan.registry import ARCHS

    inputs_dir = Path(inputs_dir)
    inputs_dir.mkdir(parents=True, exist_ok=True)
    opts = load_our_options(inputs_dir)
    nets = {}
    for i, key in enumerate(NETWORKS):
        nets[key] = seeded_state(ARCHS.build(opts[key], where=key), SEED + i)
    for key, value in nets["network_g"].items():
        if ("to_rgb" in key or "toRGB" in key) and key.endswith(".weight") and ".modulation." not in key:
            value *= RGB_GAIN
    torch.save(nets, inputs_dir / NETS_FILE)
    torch.save(nets["network_identity"], inputs_dir / ARCFACE_FILE)
    torch.save(vgg19_features(SEED + len(NETWORKS)), inputs_dir / VGG_FEATURES_FILE)
    torch.save(make_batch(), inputs_dir / BATCH_FILE)
    return inputs_dir


# ----------------------------------------------------------------------------------------------------------------------
# Results: {"iterations": {"1": {"losses": {name: value}, "params": {net: {param: [sum, norm, Δ sum, Δ norm]}}}}}


def summarise_params(nets: dict[str, torch.nn.Module], initial: dict[str, dict[str, torch.Tensor]]) -> dict:
    """Per named parameter: float64 sum and L2 norm of the tensor and of its change since ``initial``."""
    out = {}
    for name, net in nets.items():
        out[name] = {}
        for key, p in net.named_parameters():
            p, delta = p.detach().double(), p.detach().double() - initial[name][key].double()
            out[name][key] = [float(p.sum()), float(p.norm()), float(delta.sum()), float(delta.norm())]
    return out


def dump_results(results: dict, path: Path) -> None:
    """Write results as JSON, one line per parameter."""
    text = json.dumps(results, indent=1)
    text = re.sub(r"\[\s+([^\[\]{}]+?)\s+\]", lambda m: "[" + ", ".join(re.split(r",\s+", m.group(1))) + "]", text)
    Path(path).write_text(text + "\n", encoding="utf-8")


def _rel(a: float, b: float, scale: float) -> float:
    return 0.0 if a == b else abs(a - b) / max(abs(scale), 1e-300)


def compare(ours: dict, ref: dict) -> dict[str, tuple[float, str]]:
    """Worst relative difference per group -> (value, parameter or loss name). Groups: 'iteration N losses',
    'iteration N scores', 'iteration N <net> params' and 'iteration N <net> deltas' (the change since the initial
    weights); see TOLERANCES.

    A loss or score is compared with |ours - ref| / |ref|; a norm relative to itself; a sum relative to
    max(|sum|, L2 norm) of the same reference tensor (per-element errors of relative size e add up to e * norm,
    whatever cancellation makes of the sum). A change the reference leaves below UNCHANGED * the parameter's norm
    must be as small on our side (else infinite). A reference entry missing on our side counts as infinite.
    """
    worst: dict[str, tuple[float, str]] = {}

    def note(group: str, value: float, where: str) -> None:
        if group not in worst or value > worst[group][0]:
            worst[group] = (value, where)

    for it, r in ref["iterations"].items():
        o = ours["iterations"].get(it, {"losses": {}, "params": {}})
        for k, v in r["losses"].items():
            group = f"iteration {it} {'scores' if k in SCORES else 'losses'}"
            note(group, _rel(o["losses"][k], v, v) if k in o["losses"] else math.inf, k)
        for net, tensors in r["params"].items():
            for key, (s, n, ds, dn) in tensors.items():
                got = o["params"].get(net, {}).get(key)
                params, deltas = f"iteration {it} {net} params", f"iteration {it} {net} deltas"
                if got is None:
                    note(params, math.inf, key)
                    continue
                note(params, max(_rel(got[0], s, max(abs(s), n)), _rel(got[1], n, n)), key)
                if dn <= UNCHANGED * n:
                    note(deltas, 0.0 if got[3] <= UNCHANGED * n else math.inf, key + " (unchanged)")
                else:
                    note(deltas, max(_rel(got[2], ds, max(abs(ds), dn)), _rel(got[3], dn, dn)), key)
    return worst


def tolerance(group: str) -> float:
    """The tolerance of a compare() group, e.g. 'iteration 2 net_g deltas'."""
    _, it, rest = group.split(" ", 2)
    return TOLERANCES[it].get(rest, TOLERANCES[it][rest.rpartition(" ")[2]])
