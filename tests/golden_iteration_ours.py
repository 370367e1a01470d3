"""Our side of the golden training-iteration check: consecutive GFP-GAN iterations on the seeded inputs of
golden_iteration_inputs.py, built and stepped as gfpgan.train.train does, summarised like
benchmarks/reference_check/reference_iteration.py summarises the official trainer.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from golden_iteration_inputs import BATCH_FILE, COMPONENTS, LOSS_NAMES, NETS_FILE, load_our_options, summarise_params


def build_our_training(inputs_dir: Path):
    """(options, gfpgan.train.Training) on the CPU with the seeded weights (the identity network comes through
    path.pretrain_network_identity) and the stored decoder noise. No lr schedule is stepped: the reference side calls
    optimize_parameters without the training loop's update_learning_rate."""
    from gfpgan.train import build_training

    opts = load_our_options(inputs_dir)
    training = build_training(opts, torch.device("cpu"))
    state, nets = torch.load(Path(inputs_dir) / NETS_FILE, weights_only=True), training.nets
    for net, key in [(nets.g, "network_g"), (nets.g_ema, "network_g"), (nets.d, "network_d")]:
        net.load_state_dict(state[key])
    for part in COMPONENTS:
        nets.components[part].load_state_dict(state[f"network_d_{part}"])
    training.step.g_forward = functools.partial(nets.g, randomize_noise=False)
    return opts, training


def run_our_iterations(inputs_dir: Path, iterations=(1, 2), dtype: torch.dtype = torch.float32) -> dict:
    """Our iterations on the inputs written by golden_iteration_inputs.write_inputs, in the golden JSON layout
    (losses under the reference's names, per-tensor parameter summaries after each iteration). ``dtype`` float64:
    networks and batch converted (the formula check of benchmarks/reference_check/, not the training path)."""
    from gfpgan.train import discriminator_step, generator_step, update_ema

    opts, training = build_our_training(inputs_dir)
    nets, step = training.nets, training.step
    for net in [nets.g, nets.g_ema, nets.d, nets.identity, *nets.components.values(), training.crit.perceptual]:
        net.to(dtype)  # in place: the optimizers keep their parameters
    batch = {k: v.to(dtype) for k, v in torch.load(Path(inputs_dir) / BATCH_FILE, weights_only=True).items()}
    trained = {"net_g_ema": nets.g_ema, **nets.trained()}
    initial = {name: {k: p.detach().clone() for k, p in net.named_parameters()} for name, net in trained.items()}
    boxes = {f"loc_{part}": batch[f"loc_{part}"] for part in COMPONENTS}
    results = {}
    for it in iterations:
        gt = batch["gt"].clone()
        output, crops, g_log, _ = generator_step(nets, step, batch["lq"].clone(), gt, boxes, it)
        update_ema(nets.g_ema, nets.g, opts.train.ema_decay)
        d_log, _ = discriminator_step(nets, step, output, gt, crops, it)
        results[str(it)] = {
            "losses": {LOSS_NAMES[k]: float(v.detach()) for k, v in {**g_log, **d_log}.items() if k in LOSS_NAMES},
            "params": summarise_params(trained, initial),
        }
    return {"iterations": results}
