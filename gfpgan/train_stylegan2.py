"""StyleGAN2 training (the generative facial prior of GFP-GAN), top to bottom.

One iteration, in the order of BasicSR 1.4.2's ``StyleGAN2Model.optimize_parameters``
(``basicsr/models/stylegan2_model.py``):
    fetch real faces -> D step (non-saturating logistic loss on fakes from mixed latents; lazy R1 every
    net_d_reg_every) -> G step (non-saturating loss; lazy path-length regularisation every net_g_reg_every) -> EMA of G
    -> log -> save -> validate (sample grid from fixed latents; metrics such as FID over generated samples).

Its option files use BasicSR's StyleGAN2 vocabulary (``model_type: StyleGAN2Model``); ``python train.py -opt FILE``
dispatches here. The generator file it saves (``models/net_g_<iter>.pth``: params + params_ema) is what
``network_g.decoder_load_path`` of a GFP-GAN option file loads.

Where this differs from the reference: the fakes of the D step are generated without a graph (same values, less
work); the moving mean of path lengths is averaged across processes (the reference keeps one per process), so a
training state holds one value; no ``0 * output`` terms (no DDP wrapper here); non-finite steps are skipped on every
process and never saved, as in the GFP-GAN loop.
"""

from __future__ import annotations

import datetime
import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gfpgan import losses as L
from gfpgan.optim import build_optimizer, build_scheduler, lazy_regularization, update_learning_rate
from gfpgan.options import Options
from gfpgan.registry import ARCHS, LOSSES, METRICS
from gfpgan.run import (
    LogWindow,
    ProgressBar,
    TrainingStopped,
    build_network,
    build_train_loader,
    finish_process,
    restore_rng,
    save_training_state,
    setup_process,
    start_run,
    update_ema,
)
from gfpgan.utils import dist
from gfpgan.utils.checkpoint import atomic_save
from gfpgan.utils.images import imwrite_rgb, tensor2img

logger = logging.getLogger("gfpgan")

__all__ = ["Prior", "PriorStep", "build_prior", "discriminator_step", "generator_step", "mixing_noise", "train"]


# ======================================================================================================================
# The pieces of one iteration


@dataclass
class PriorStep:
    """What one iteration needs besides the networks: options, optimizers, criterion, AMP, the forward of G."""

    opts: Options
    gan: nn.Module
    optimizers: dict[str, torch.optim.Optimizer]
    scaler: torch.amp.GradScaler
    autocast: Any  # a context-manager factory
    g_forward: nn.Module  # net_g, possibly compiled
    num_style_feat: int
    mean_path_length: torch.Tensor = field(default_factory=lambda: torch.zeros(()))


def mixing_noise(batch: int, prob: float, num_style_feat: int, device: torch.device) -> list[torch.Tensor]:
    """Latents z ~ N(0, I) for one batch: two of them (style mixing) with probability ``prob``, else one.

    The draws are those of the reference (Python's ``random`` for the coin, the global torch RNG for z), in its order.
    """
    if random.random() < prob:
        return list(torch.randn(2, batch, num_style_feat, device=device).unbind(0))
    return [torch.randn(batch, num_style_feat, device=device)]


def discriminator_step(g: nn.Module, d: nn.Module, s: PriorStep, real: torch.Tensor, it: int) -> tuple[dict, bool]:
    """One update of D: logistic loss on real faces and on fakes from fresh latents; lazy R1. Returns (log, ok).

    real: (N,3,S,S) float in [-1,1], RGB.
    """
    t = s.opts.train
    d.requires_grad_(True)
    s.optimizers["net_d"].zero_grad(set_to_none=True)
    noise = mixing_noise(real.shape[0], t.mixing_prob, s.num_style_feat, real.device)
    with torch.no_grad(), s.autocast():
        fake, _ = s.g_forward(noise)
    with s.autocast():
        fake_pred = d(fake)
        real_pred = d(real)
        l_d = s.gan(real_pred, True, is_disc=True) + s.gan(fake_pred, False, is_disc=True)
    log = {
        "loss/d/gan": l_d,
        "d/real_score": real_pred.detach().float().mean(),
        "d/fake_score": fake_pred.detach().float().mean(),
    }
    (ok,) = dist.agree([bool(torch.isfinite(l_d))], l_d.device)  # the same decision on every rank
    if ok:
        s.scaler.scale(l_d).backward()
        if t.net_d_reg_every > 0 and it % t.net_d_reg_every == 0:
            real_r1 = real.detach().requires_grad_(True)  # R1 in float32 and eager (double backward)
            l_r1 = t.r1_reg_weight / 2 * L.r1_penalty(d(real_r1), real_r1) * t.net_d_reg_every
            log["loss/d/r1"] = l_r1.detach()
            (ok,) = dist.agree([bool(torch.isfinite(l_r1))], l_r1.device)
            if ok:
                s.scaler.scale(l_r1).backward()
    if ok:
        dist.all_reduce_grads(d.parameters())
        s.scaler.step(s.optimizers["net_d"])
    return log, ok


def generator_step(g: nn.Module, d: nn.Module, s: PriorStep, batch: int, it: int, device: torch.device) -> tuple:
    """One update of G: non-saturating loss on fakes from fresh latents; lazy path-length regularisation.

    Returns (log, ok). The moving mean of path lengths (``s.mean_path_length``) is updated on regularisation steps.
    """
    t = s.opts.train
    d.requires_grad_(False)
    s.optimizers["net_g"].zero_grad(set_to_none=True)
    noise = mixing_noise(batch, t.mixing_prob, s.num_style_feat, device)
    with s.autocast():
        fake, _ = s.g_forward(noise)
        l_g = s.gan(d(fake), True, is_disc=False)
    log = {"loss/g/gan": l_g}
    (ok,) = dist.agree([bool(torch.isfinite(l_g))], l_g.device)
    if ok:
        s.scaler.scale(l_g).backward()
        if t.path_reg_weight > 0 and t.net_g_reg_every > 0 and it % t.net_g_reg_every == 0:
            path_batch = max(1, batch // t.path_batch_shrink)
            noise = mixing_noise(path_batch, t.mixing_prob, s.num_style_feat, device)
            fake, latents = g(noise, return_latents=True)  # float32 and eager: a gradient w.r.t. the latents
            penalty, path_length, new_mean = L.path_length_penalty(fake, latents, s.mean_path_length.to(device))
            l_path = t.path_reg_weight * t.net_g_reg_every * penalty
            log["loss/g/path"] = l_path.detach()
            log["g/path_length"] = path_length
            (ok,) = dist.agree([bool(torch.isfinite(l_path))], l_path.device)
            if ok:
                s.scaler.scale(l_path).backward()
                s.mean_path_length = dist.reduce_mean({"m": new_mean})["m"] * torch.ones(())
    if ok:
        dist.all_reduce_grads(g.parameters())
        s.scaler.step(s.optimizers["net_g"])
    s.scaler.update()
    return log, ok


# ======================================================================================================================
# Building a run


@dataclass
class Prior:
    """Everything one iteration needs, as ``build_prior`` returns it."""

    g: nn.Module
    g_ema: nn.Module
    d: nn.Module
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler]
    step: PriorStep

    def state_dict(self) -> dict:
        return {
            "nets": {"net_g": self.g.state_dict(), "net_d": self.d.state_dict(), "net_g_ema": self.g_ema.state_dict()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "scaler": self.step.scaler.state_dict(),
            "mean_path_length": self.step.mean_path_length.clone(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.g.load_state_dict(state["nets"]["net_g"])
        self.d.load_state_dict(state["nets"]["net_d"])
        self.g_ema.load_state_dict(state["nets"]["net_g_ema"])
        for key, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][key])
        for key, sched in self.schedulers.items():
            sched.load_state_dict(state["schedulers"][key])
        self.step.scaler.load_state_dict(state["scaler"])
        self.step.mean_path_length = state["mean_path_length"].clone()


def build_prior(opts: Options, device: torch.device) -> Prior:
    """Generator (with EMA), discriminator, criterion, optimizers (lazy-regularisation scaling), schedulers and the
    step context of a StyleGAN2 run, from resolved options (``model_type: StyleGAN2Model``)."""
    t = opts.train
    memory_format = torch.channels_last if t.channels_last else torch.contiguous_format
    g = build_network(opts, "network_g", device, memory_format)
    g_ema = ARCHS.build(opts.network_g, where="network_g").to(device, memory_format=memory_format)
    g_ema.load_state_dict(g.state_dict())
    if opts.path.pretrain_network_g:  # the reference loads the EMA from params_ema of the same file
        g_ema.load_state_dict(build_network(opts, "network_g", device, param_key="params_ema").state_dict())
    g_ema.eval().requires_grad_(False)
    d = build_network(opts, "network_d", device, memory_format)
    for net in (g, d, g_ema):  # every replica starts from rank 0's weights
        dist.broadcast_params(net)
    logger.info(
        "net_g %s: %.2fM parameters, net_d %s: %.2fM",
        type(g).__name__, sum(p.numel() for p in g.parameters()) / 1e6,
        type(d).__name__, sum(p.numel() for p in d.parameters()) / 1e6,
    )  # fmt: skip

    g_spec = lazy_regularization(t.optim_g, t.net_g_reg_every, scale_lr=t.g_lr_scaling == "stylegan2")
    d_spec = lazy_regularization(t.optim_d, t.net_d_reg_every, scale_lr=t.d_lr_scaling == "stylegan2")
    optimizers = {
        "net_g": build_optimizer(g.parameters(), g_spec, "train.optim_g"),
        "net_d": build_optimizer(d.parameters(), d_spec, "train.optim_d"),
    }
    schedulers = {}
    if t.scheduler:
        schedulers = {k: build_scheduler(o, t.scheduler, "train.scheduler") for k, o in optimizers.items()}
    amp_dtype = torch.bfloat16 if t.amp.dtype == "bfloat16" else torch.float16
    scaler = torch.amp.GradScaler(device.type, enabled=t.amp.enabled and amp_dtype == torch.float16)

    def autocast():
        return torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=t.amp.enabled)

    step = PriorStep(
        opts=opts,
        gan=LOSSES.build(t.gan_opt, where="train.gan_opt").to(device),
        optimizers=optimizers,
        scaler=scaler,
        autocast=autocast,
        g_forward=torch.compile(g) if t.compile else g,
        num_style_feat=g.num_style_feat,
    )
    return Prior(g, g_ema, d, optimizers, schedulers, step)


# ======================================================================================================================
# Validation


@torch.no_grad()
def validate(prior: Prior, opts: Options, it: int, device: torch.device, exp: Path, tb) -> dict[str, float]:
    """Samples of the EMA generator from fixed latents (stored noise) as a grid PNG and in tensorboard; each metric
    of ``val.metrics`` over ``val.num_fid_samples`` generated faces; one line in metrics.jsonl."""
    g = prior.g_ema
    gen = torch.Generator().manual_seed(opts.manual_seed)  # the same latents at every validation and on resume
    fixed = torch.randn(opts.val.num_val_samples, g.num_style_feat, generator=gen).to(device)
    samples, _ = g([fixed], randomize_noise=False)
    images = tensor2img(samples.float().cpu())
    columns = max(1, int(len(images) ** 0.5))
    rows = [images[i : i + columns] for i in range(0, len(images), columns)]
    rows[-1] = rows[-1] + [images[0] * 0] * (columns - len(rows[-1]))
    grid = torch.cat([torch.cat([torch.from_numpy(im) for im in row], 1) for row in rows], 0).numpy()
    grid_file = exp / "visualization" / f"samples_{it:08d}.png"
    imwrite_rgb(grid_file, grid)
    if tb is not None:
        tb.add_image("samples", grid, it, dataformats="HWC")
    scores = {}
    if opts.val.metrics:
        metrics = {
            k: METRICS.build(spec, where=f"val.metrics.{k}", device=device) for k, spec in opts.val.metrics.items()
        }
        batch = opts.datasets.train.loader.batch_size_per_gpu
        for start in range(0, opts.val.num_fid_samples, batch):
            z = torch.randn(min(batch, opts.val.num_fid_samples - start), g.num_style_feat, generator=gen).to(device)
            fakes, _ = g([z], randomize_noise=False)
            for img in tensor2img(fakes.float().cpu()):
                for metric in metrics.values():
                    metric.update(img, None)
        scores = {k: m.compute() for k, m in metrics.items()}
        for k, v in scores.items():
            if tb is not None:
                tb.add_scalar(f"metrics/samples/{k}", v, it)
    with open(exp / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"iter": it, "dataset": "samples", "samples": scores, "grid": str(grid_file)}) + "\n")
    text = ", ".join(f"{k}: {v:.4f}" for k, v in scores.items())
    logger.info("Validation @ iter %d: %s%ssamples: %s", it, text, " | " if text else "", grid_file)
    return scores


# ======================================================================================================================
# Training


def train(opts: Options, launcher: str = "none", auto_resume: bool = False, argv: list[str] | None = None) -> dict:
    """Train a StyleGAN2 prior as configured. Returns a summary (final iteration, run folder, last scores)."""
    # ---------------------------------------------------------------- Setup distributed
    rank, world_size, device = setup_process(opts, launcher)
    t = opts.train

    # ---------------------------------------------------------------- Run folder, log, resume state
    run = start_run(opts, auto_resume, argv, device)
    exp, tb = run.exp, run.tb

    # ---------------------------------------------------------------- Load data, build networks and optimizers
    train_loader, sampler, iters_per_epoch = build_train_loader(opts, rank, world_size, device)
    batch_size = opts.datasets.train.loader.batch_size_per_gpu
    prior = build_prior(opts, device)
    g, d, step = prior.g, prior.d, prior.step
    memory_format = torch.channels_last if t.channels_last else torch.contiguous_format

    # ---------------------------------------------------------------- Resume
    it, epoch, batch_in_epoch, nonfinite = 0, 0, 0, 0
    if run.state is not None:
        prior.load_state_dict(run.state)
        it, epoch, batch_in_epoch = run.state["iter"], run.state["epoch"], run.state["batch_in_epoch"]
        nonfinite = run.state["nonfinite"]
        restore_rng(run.state, opts.manual_seed, it)
        logger.info("Resumed from %s at iteration %d (epoch %d, batch %d)", run.resume_path, it, epoch, batch_in_epoch)

    def save(it: int) -> None:
        models = {
            "net_g": {"params": g.state_dict(), "params_ema": prior.g_ema.state_dict()},
            "net_d": {"params": d.state_dict()},
        }
        state = {**prior.state_dict(), "epoch": epoch, "batch_in_epoch": batch_in_epoch, "nonfinite": nonfinite,
                 "best": {}, "options": opts.to_dict()}  # fmt: skip
        checked = {"net_g": g, "net_d": d, "net_g_ema": prior.g_ema}
        save_training_state(exp, it, models, state, checked, opts.logger.keep_checkpoints)

    # ---------------------------------------------------------------- Train
    logger.info("Start training from iteration %d to %d", it, t.total_iter)
    window = LogWindow(opts.name, t.total_iter, start_iter=it)
    progress = ProgressBar(it, t.total_iter, enabled=dist.is_main())
    last_scores: dict[str, float] = {}
    while it < t.total_iter:
        sampler.set_epoch(epoch, start=batch_in_epoch * batch_size)
        tic = time.time()
        for batch in train_loader:
            it += 1
            batch_in_epoch += 1
            window.data_time += time.time() - tic
            update_learning_rate(list(prior.optimizers.values()), list(prior.schedulers.values()), it, t.warmup_iter)
            real = batch["gt"].to(device, non_blocking=True).contiguous(memory_format=memory_format)

            d_log, d_ok = discriminator_step(g, d, step, real, it)
            g_log, g_ok = generator_step(g, d, step, real.shape[0], it, device)
            update_ema(prior.g_ema, g, t.ema_decay)

            # ---------------- guard against non-finite losses (the same decision on every rank)
            nonfinite = 0 if d_ok and g_ok else nonfinite + 1
            if nonfinite:
                bad = [k for k, v in {**d_log, **g_log}.items() if not bool(torch.isfinite(v).all())]
                logger.warning("Iteration %d: non-finite %s; that update skipped on every process (%d in a row)",
                               it, ", ".join(bad) or "loss on another process", nonfinite)  # fmt: skip
                if nonfinite >= t.max_nonfinite_steps:
                    raise TrainingStopped(
                        f"{nonfinite} non-finite losses in a row at iteration {it}: training stopped. No state was "
                        f"saved since the last finite step, so the newest one in {exp / 'training_states'} holds "
                        "healthy weights: lower train.optim_g.lr / optim_d.lr with --set, then --auto_resume."
                    )

            # ---------------- log, save, validate
            window.add({**d_log, **g_log})
            progress.update(it, g_log, d_log)
            if it % opts.logger.print_freq == 0 or it == t.total_iter or it == window.start_iter + 1:
                window.emit(it, epoch, [grp["lr"] for grp in prior.optimizers["net_g"].param_groups], tb)
            epoch_done = batch_in_epoch >= iters_per_epoch
            if epoch_done:
                epoch, batch_in_epoch = epoch + 1, 0
            if it % opts.logger.save_checkpoint_freq == 0 or it == t.total_iter:
                if nonfinite == 0:
                    save(it)
                elif dist.is_main():
                    logger.warning("Iteration %d: not saved (%d non-finite steps in a row)", it, nonfinite)
            if opts.val is not None and (it % opts.val.val_freq == 0 or it == t.total_iter):
                if dist.is_main():
                    last_scores = validate(prior, opts, it, device, exp, tb)
                dist.barrier()
            tic = time.time()
            if it >= t.total_iter or epoch_done:
                break

    # ---------------------------------------------------------------- Done
    progress.close()
    if dist.is_main():
        atomic_save(
            {"params": g.state_dict(), "params_ema": prior.g_ema.state_dict()}, exp / "models" / "net_g_latest.pth"
        )
    logger.info(
        "End of training at iteration %d (%s).", it, datetime.timedelta(seconds=int(time.time() - window.start_time))
    )
    finish_process(tb)
    return {"iter": it, "exp": exp, "validation": last_scores}
