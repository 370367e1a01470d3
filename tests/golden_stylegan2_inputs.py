"""Seeded inputs of the golden StyleGAN2 iteration: options, weights of G and D, the batch, and our side of the check.

Shared by tests/integration/test_golden_stylegan2.py (our iteration against tests/data/golden_stylegan2_iteration.json)
and benchmarks/reference_check/stylegan2_iteration.py (which records that file with BasicSR 1.4.2's
``StyleGAN2Model.optimize_parameters``). Weights and images are drawn from explicit ``torch.Generator`` streams of
``torch.rand`` (uniform: the same bits on every CPU); the iteration's own draws (latents, style-mixing coins, layer
noise, the path-length noise) come from the global RNGs, seeded identically on both sides right before it, and are
consumed in the same order. Only torch at import time (the reference interpreter loads this file by path).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
SMOKE_OPTIONS = REPO / "options" / "smoke" / "train_stylegan2.yml"
BATCH, SIZE, ITERATION = 4, 64, 16  # iteration 16: R1 (every 16) and path-length regularisation (every 4) both on
SEED, STEP_SEED = 20261203, 7
ADAM_EPS = 1e-5  # the first Adam step lr * g / (|g| + eps) is a smooth function of tiny gradients (see the GFP-GAN one)
NETS_FILE, BATCH_FILE = "nets.pt", "batch.pt"
# The reference's regularisation intervals (16 / 4) and, for weights that make R1 and the path penalty visible in the
# updates at random init, larger regularisation weights than the 10 / 2 of training (same on both sides).
OVERRIDES: dict[str, object] = {
    "train.net_d_reg_every": 16,
    "train.net_g_reg_every": 4,
    "train.r1_reg_weight": 100.0,
    "train.path_reg_weight": 2.0,
    "train.mixing_prob": 0.9,
    "datasets.train.batch_size_per_gpu": BATCH,
}
LOSS_NAMES = {  # ours -> the reference's log_dict names
    "loss/d/gan": "l_d",
    "d/real_score": "real_score",
    "d/fake_score": "fake_score",
    "loss/d/r1": "l_d_r1",
    "loss/g/gan": "l_g",
    "loss/g/path": "l_g_path",
    "g/path_length": "path_length",
}


def _uniform(shape: torch.Size, gen: torch.Generator, std: float) -> torch.Tensor:
    return (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1).mul(std * math.sqrt(3)).float()


def make_inputs(folder: str | Path) -> None:
    """Write nets.pt ({network_g, network_d} state dicts, official key layout) and batch.pt ({gt}) into ``folder``."""
    from gfpgan.options import load_options
    from gfpgan.registry import ARCHS

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    opts, _ = load_options(SMOKE_OPTIONS, overrides=our_overrides())
    gen = torch.Generator().manual_seed(SEED)
    nets = {}
    for key in ("network_g", "network_d"):
        net = ARCHS.build(opts[key], where=key)
        with torch.no_grad():
            for name, p in net.named_parameters():
                if p.ndim >= 2 and not name.endswith("bias"):  # equalized-lr weights are N(0, 1): unit-variance
                    p.copy_(_uniform(p.shape, gen, 1.0))
                elif name.endswith(".weight") and p.numel() == 1:  # noise strengths: on, so the noise matters
                    p.fill_(0.1)
                else:  # biases around their init
                    p.add_(_uniform(p.shape, gen, 0.1))
        nets[key] = net.state_dict()
    coarse = torch.rand(BATCH, 3, 8, 8, generator=gen) * 2 - 1
    gt = F.interpolate(coarse, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    torch.save(nets, folder / NETS_FILE)
    torch.save({"gt": gt}, folder / BATCH_FILE)


def our_overrides() -> list[str]:
    return [f"{k}={json.dumps(v)}" for k, v in OVERRIDES.items()] + [
        f"train.optim_g.eps={ADAM_EPS}",
        f"train.optim_d.eps={ADAM_EPS}",
        "logger.use_tb_logger=false",
    ]


def summarise(nets: dict[str, dict[str, torch.Tensor]], initial: dict[str, dict[str, torch.Tensor]]) -> dict:
    """{net: {param: [sum, L2 norm, sum of change, L2 norm of change]}} in float64."""
    out = {}
    for name, sd in nets.items():
        out[name] = {}
        for key, value in sd.items():
            if not value.is_floating_point() or key.startswith("noises."):
                continue
            v, d = value.double(), value.double() - initial[name][key].double()
            out[name][key] = [v.sum().item(), v.norm().item(), d.sum().item(), d.norm().item()]
    return out


def run_ours(folder: str | Path) -> dict:
    """Our iteration ITERATION (D step, G step, EMA) on the inputs in ``folder``; losses and parameter summaries."""
    from gfpgan import train_stylegan2 as S
    from gfpgan.options import load_options
    from gfpgan.run import update_ema

    folder = Path(folder)
    opts, _ = load_options(SMOKE_OPTIONS, overrides=our_overrides())
    torch.manual_seed(0)
    prior = S.build_prior(opts, torch.device("cpu"))
    nets = torch.load(folder / NETS_FILE, weights_only=True)
    prior.g.load_state_dict(nets["network_g"])
    prior.g_ema.load_state_dict(nets["network_g"])
    prior.d.load_state_dict(nets["network_d"])
    real = torch.load(folder / BATCH_FILE, weights_only=True)["gt"]
    random.seed(STEP_SEED)
    torch.manual_seed(STEP_SEED)
    d_log, _ = S.discriminator_step(prior.g, prior.d, prior.step, real, ITERATION)
    g_log, _ = S.generator_step(prior.g, prior.d, prior.step, BATCH, ITERATION, torch.device("cpu"))
    update_ema(prior.g_ema, prior.g, opts.train.ema_decay)
    losses = {LOSS_NAMES[k]: float(v.detach()) for k, v in {**d_log, **g_log}.items()}
    initial = {"net_g": nets["network_g"], "net_g_ema": nets["network_g"], "net_d": nets["network_d"]}
    after = {"net_g": prior.g.state_dict(), "net_g_ema": prior.g_ema.state_dict(), "net_d": prior.d.state_dict()}
    return {"losses": losses, "params": summarise(after, initial)}
