"""GFP-GAN training, top to bottom.

One iteration, in the order of the official trainer (TencentARC/GFPGAN 1.3.8, ``gfpgan/models/gfpgan_model.py``:
``GFPGANModel.optimize_parameters``):
    fetch (lq, gt, component boxes) -> G step (pixel + pyramid + perceptual + style + GAN + component GAN + component
    style + identity) -> EMA of G -> D step (+ lazy R1) -> component D steps -> log -> save -> validate.

Run:  python train.py -opt options/train_gfpgan.yml [--auto_resume] [--debug] [--set train.total_iter=1000]
      torchrun --nproc_per_node=8 train.py -opt options/train_gfpgan.yml --launcher pytorch
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from gfpgan import losses as L
from gfpgan.archs.contract import RestorationGenerator, check_generator
from gfpgan.data.check import check_dataset_block
from gfpgan.data.components import COMPONENTS
from gfpgan.optim import build_optimizer, build_scheduler, lazy_regularization, update_learning_rate
from gfpgan.options import (
    OptionError,
    Options,
    add_option_arguments,
    detect_phase,
    load_options,
    print_dry_run,
    read_yaml,
)
from gfpgan.registry import ARCHS, LOSSES, METRICS
from gfpgan.run import (
    LogWindow,
    ProgressBar,
    TrainingStopped,
    build_network,
    build_train_loader,
    build_val_loaders,
    finish_process,
    restore_rng,
    save_training_state,
    setup_process,
    start_run,
    update_ema,
)
from gfpgan.utils import dist
from gfpgan.utils.checkpoint import atomic_save
from gfpgan.utils.errors import run_main
from gfpgan.utils.images import imwrite_rgb, labelled_grid, tensor2img
from gfpgan.utils.state_dict import load_weights
from gfpgan.utils.weights import WeightsNotFoundError, get_weights_path

logger = logging.getLogger("gfpgan")


# ======================================================================================================================
# Command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train GFP-GAN (model_type: GFPGANModel) or its StyleGAN2 prior (StyleGAN2Model) from a YAML file."
    )
    parser.add_argument("-opt", "--opt", required=True, help="path to the option YAML file")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm"], default="none", help="job launcher")
    parser.add_argument("--auto_resume", "--auto-resume", action="store_true", help="resume from the newest state")
    parser.add_argument(
        "--debug", action="store_true", help="name debug_*, log/save/validate often, no tensorboard; tracebacks"
    )
    parser.add_argument(
        "--check-data",
        "--check_data",
        dest="check_data",
        action="store_true",
        help="decode every image of every dataset once, report all bad files, then exit (no training)",
    )
    add_option_arguments(parser, example="train.optim_g.lr=1e-3 datasets.train.batch_size_per_gpu=2")
    # torch.distributed.launch passes --local-rank / --local_rank; torchrun sets LOCAL_RANK instead. Accept, ignore.
    parser.add_argument("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """``python train.py -opt FILE``: 0 when training ends, 2 for bad input, 1 for a failure at run time; one line
    per error (gfpgan/utils/errors.py), a traceback with --debug."""
    args = parse_args(argv)
    return run_main(lambda: _main(args, sys.argv if argv is None else argv), debug=args.debug)


def _main(args: argparse.Namespace, argv: list[str]) -> int:
    if detect_phase(read_yaml(args.opt)) == "test":
        raise OptionError(f"{args.opt} is a test option file (no train section): run python test.py -opt {args.opt}")
    opts, report = load_options(args.opt, overrides=args.overrides, debug=args.debug, phase="train")
    if args.dry_run:
        report.data_problems = check_data(opts, full_decode=False)  # the real start's pre-flight, as warnings
        print_dry_run(opts, report, args.opt)
        return 0
    if report.problems:
        raise OptionError(f"{args.opt}: cannot start training: " + "; ".join(report.problems))
    # Every image decoded once with --check-data; otherwise the fast pre-flight (headers, cached per folder listing).
    problems = check_data(opts, full_decode=args.check_data)
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    if problems or args.check_data:
        summary = f"{len(problems)} problem line(s) above" if problems else "every image is good"
        kind = "full decode" if args.check_data else "pre-flight"
        print(f"{args.opt}: data check ({kind}): {summary}", file=sys.stderr)
        return 2 if problems else 0
    procedure_for(opts)(opts, launcher=args.launcher, auto_resume=args.auto_resume, argv=argv)
    return 0


def procedure_for(opts: Options):
    """The ``train(opts, launcher, auto_resume, argv)`` function of the procedure ``model_type`` names."""
    if opts.model_type == "StyleGAN2Model":  # the prior's own loop
        from gfpgan.train_stylegan2 import train as train_prior

        return train_prior
    return train


def check_data(opts: Options, full_decode: bool) -> list[str]:
    """Problems of every dataset block's images (gfpgan/data/check.py), one line each; empty when all are good."""
    return [
        line
        for phase, spec in opts.datasets.items()
        for line in check_dataset_block(spec, f"datasets.{phase}", full_decode=full_decode)
    ]


# ======================================================================================================================
# The pieces of one iteration


@dataclass
class Nets:
    g: RestorationGenerator
    g_ema: RestorationGenerator
    d: nn.Module | None
    components: dict[str, nn.Module]  # left_eye / right_eye / mouth discriminators (empty when unused)
    identity: nn.Module | None

    def trained(self) -> dict[str, nn.Module]:
        nets = {"net_g": self.g}
        if self.d is not None:
            nets["net_d"] = self.d
        nets.update({f"net_d_{part}": net for part, net in self.components.items()})
        return nets


@dataclass
class Criteria:
    pixel: nn.Module | None
    l1: nn.Module | None
    perceptual: nn.Module | None
    gan: nn.Module | None
    component: nn.Module | None


@dataclass
class Step:
    """What one iteration needs besides the networks: options, optimizers, AMP, the forward of G."""

    opts: Options
    crit: Criteria
    optimizers: dict[str, torch.optim.Optimizer]
    scaler: torch.amp.GradScaler
    autocast: Any  # a context-manager factory
    g_forward: nn.Module  # net_g, possibly compiled
    face_size: int
    pyramid_removed: bool = False


def generator_step(nets: Nets, s: Step, lq: torch.Tensor, gt: torch.Tensor, boxes: dict, it: int) -> tuple:
    """One update of G. Returns (output, crops, log, finite flag).

    lq, gt: (N,3,H,W) float in [-1,1], RGB. crops: {part: (fake crop, real crop)}. The loss is the sum of the named,
    weighted terms below (``loss/g/...``); ``log`` holds those terms and their total.
    """
    t = s.opts.train
    for net in [nets.d, *nets.components.values()]:
        if net is not None:
            net.requires_grad_(False)
    s.optimizers["net_g"].zero_grad(set_to_none=True)

    use_pyramid = t.pyramid_loss_weight > 0 and not s.pyramid_removed
    with s.autocast():
        output, out_rgbs = s.g_forward(lq, return_rgb=use_pyramid)
    crops = {}
    if nets.components:
        fake = L.roi_crops(output, **boxes, face_size=s.face_size)
        real = L.roi_crops(gt, **boxes, face_size=s.face_size)
        crops = {part: (f, r) for part, f, r in zip(COMPONENTS, fake, real)}
    if not (it % t.net_d_iters == 0 and it > t.net_d_init_iters):
        return output, crops, {}, True

    terms: dict[str, torch.Tensor] = {}  # the weighted loss terms; G's loss is their sum
    with s.autocast():
        if s.crit.pixel is not None:
            terms["loss/g/pixel"] = s.crit.pixel(output, gt)
        if use_pyramid:
            levels = L.pyramid_l1(out_rgbs, L.gt_pyramid(gt, len(out_rgbs)), criterion=s.crit.l1)
            for out_rgb, level in zip(out_rgbs, levels):
                terms[f"loss/g/pyramid_{out_rgb.shape[-1]}"] = level * t.pyramid_loss_weight
        if s.crit.perceptual is not None:
            percep, style = s.crit.perceptual(output, gt)
            if percep is not None:
                terms["loss/g/perceptual"] = percep
            if style is not None:
                terms["loss/g/style"] = style
        if s.crit.gan is not None:
            terms["loss/g/gan"] = s.crit.gan(nets.d(output), True, is_disc=False)
        comp_features = []
        for part, net in nets.components.items():
            fake_crop, real_crop = crops[part]
            fake_pred, fake_feats = net(fake_crop, return_feats=True)
            if s.crit.component is not None:
                terms[f"loss/g/gan_{part}"] = s.crit.component(fake_pred, True, is_disc=False)
            if t.comp_style_weight > 0:
                with torch.no_grad():
                    _, real_feats = net(real_crop, return_feats=True)
                comp_features.append(
                    L.component_feature_loss(fake_feats, real_feats, t.comp_feature_loss, criterion=s.crit.l1)
                )
        if comp_features:
            terms[f"loss/g/comp_{t.comp_feature_loss}"] = sum(comp_features) * t.comp_style_weight
        if nets.identity is not None:
            terms["loss/g/identity"] = L.identity_loss(nets.identity, output, gt, s.crit.l1) * t.identity_weight
    total = sum((term.float() for term in terms.values()), output.new_zeros((), dtype=torch.float32))
    # Every rank takes the same decision before any collective: a NaN on one rank skips the step everywhere.
    (finite,) = dist.agree([bool(torch.isfinite(total))], output.device)
    if finite:
        s.scaler.scale(total).backward()
        dist.all_reduce_grads(nets.g.parameters())
        s.scaler.step(s.optimizers["net_g"])
    return output, crops, {**terms, "loss/g/total": total}, finite


def discriminator_step(nets: Nets, s: Step, output: torch.Tensor, gt: torch.Tensor, crops: dict, it: int) -> tuple:
    """One update of D (with lazy R1) and of each component D. Returns (log, finite flag).

    Each network's loss is the sum of its named terms (``loss/d/gan`` + ``loss/d/r1``; ``loss/d/<part>``); ``log``
    also holds D's mean scores of real and fake images (diagnostics, not losses).
    """
    t = s.opts.train
    log: dict[str, torch.Tensor] = {}
    finite = True
    if nets.d is not None:
        nets.d.requires_grad_(True)
        s.optimizers["net_d"].zero_grad(set_to_none=True)
        with s.autocast():
            fake_pred = nets.d(output.detach())
            real_pred = nets.d(gt)
            l_d = s.crit.gan(real_pred, True, is_disc=True) + s.crit.gan(fake_pred, False, is_disc=True)
        log["loss/d/gan"] = l_d
        log["d/real_score"] = real_pred.detach().float().mean()
        log["d/fake_score"] = fake_pred.detach().float().mean()
        (finite,) = dist.agree([bool(torch.isfinite(l_d))], l_d.device)  # the same decision on every rank
        if finite:
            s.scaler.scale(l_d).backward()
            if t.net_d_reg_every > 0 and it % t.net_d_reg_every == 0:
                # R1 in float32 and eager: the double backward must not run under autocast or a compiled graph.
                gt_r1 = gt.detach().requires_grad_(True)
                l_r1 = t.r1_reg_weight / 2 * L.r1_penalty(nets.d(gt_r1), gt_r1) * t.net_d_reg_every
                log["loss/d/r1"] = l_r1.detach()
                (finite,) = dist.agree([bool(torch.isfinite(l_r1))], l_r1.device)
                if finite:
                    s.scaler.scale(l_r1).backward()
        if finite:
            dist.all_reduce_grads(nets.d.parameters())
            s.scaler.step(s.optimizers["net_d"])

    for part, net in nets.components.items():
        net.requires_grad_(True)
        s.optimizers[f"net_d_{part}"].zero_grad(set_to_none=True)
        fake_crop, real_crop = crops[part]
        with s.autocast():
            fake_pred, _ = net(fake_crop.detach())
            real_pred, _ = net(real_crop)
            # The reference scores the fake crops with the global GAN criterion (wgan_softplus); with the official
            # options softplus(x) == BCEWithLogits(x, 0), so the component criterion gives the same number.
            l_comp = s.crit.component(real_pred, True, is_disc=True) + s.crit.component(fake_pred, False, is_disc=True)
        log[f"loss/d/{part}"] = l_comp
    # One decision per component D, the same on every rank, taken before any of their collectives.
    parts = list(nets.components)
    part_ok = dist.agree([bool(torch.isfinite(log[f"loss/d/{p}"])) for p in parts], output.device)
    for part, ok in zip(parts, part_ok):
        if ok:
            s.scaler.scale(log[f"loss/d/{part}"]).backward()
    for part, ok in zip(parts, part_ok):
        if ok:
            dist.all_reduce_grads(nets.components[part].parameters())
            s.scaler.step(s.optimizers[f"net_d_{part}"])
    s.scaler.update()
    return log, finite and all(part_ok)


# ======================================================================================================================
# Validation


@torch.no_grad()
def validate(
    net_g_ema: nn.Module,
    loaders: dict[str, DataLoader],
    opts: Options,
    it: int,
    device: torch.device,
    exp: Path,
    tb,
    input_scores: bool,
    best: dict,
) -> dict[str, dict[str, float]]:
    """Restore every validation set with the EMA generator (deterministic noise) and score it.

    Appends one JSON line per set to experiments/<name>/metrics.jsonl; the first validation of a run also scores the
    degraded input against GT ("input").
    """
    was_training = net_g_ema.training
    net_g_ema.eval()
    results = {}
    for loader in loaders.values():
        name = loader.dataset_name
        restored_m = {
            k: METRICS.build(spec, where=f"val.metrics.{k}", device=device) for k, spec in opts.val.metrics.items()
        }
        input_m = {
            k: METRICS.build(spec, where=f"val.metrics.{k}", device=device) for k, spec in opts.val.metrics.items()
        }
        grid = []
        for batch in loader:
            lq = batch["lq"].to(device)
            output, _ = net_g_ema(lq, return_rgb=False, randomize_noise=False)
            restored, gts = tensor2img(output), tensor2img(batch["gt"])
            lqs = tensor2img(batch["lq"]) if input_scores else [None] * len(gts)
            for i, (img, gt, lq_img) in enumerate(zip(restored, gts, lqs)):
                for metric in restored_m.values():
                    metric.update(img, gt)
                if input_scores:
                    for metric in input_m.values():
                        metric.update(lq_img, gt)
                stem = Path(batch["lq_path"][i] if "lq_path" in batch else batch["gt_path"][i]).stem
                if opts.val.save_img:
                    suffix = opts.val.suffix or str(it)
                    imwrite_rgb(exp / "visualization" / stem / f"{stem}_{suffix}.png", img)
            if len(grid) < opts.val.num_log_images:
                take = opts.val.num_log_images - len(grid)
                grid += list(zip(batch["lq"][:take], output.float().cpu()[:take], batch["gt"][:take]))
        scores = {k: m.compute() for k, m in restored_m.items()}
        line: dict[str, Any] = {"iter": it, "dataset": name, "restored": scores}
        if input_scores:
            line["input"] = {k: m.compute() for k, m in input_m.items()}
        with open(exp / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        text = ", ".join(f"{k}: {v:.4f}" for k, v in scores.items())
        if input_scores:
            text += " | input " + ", ".join(f"{k}: {v:.4f}" for k, v in line["input"].items())
        for k, v in scores.items():
            record = best.setdefault(f"{name}/{k}", {"value": None, "iter": None})
            higher = restored_m[k].better == "higher"
            if record["value"] is None or (v > record["value"] if higher else v < record["value"]):
                record.update(value=v, iter=it)
            text += f" [best {k} {record['value']:.4f} @ {record['iter']}]"
            if tb is not None:
                tb.add_scalar(f"metrics/{name}/{k}", v, it)
        if grid:  # degraded | restored | GT of the first num_log_images faces, as a PNG and in tensorboard
            picture = labelled_grid([tensor2img(torch.stack(row)) for row in grid], ["degraded", "restored", "GT"])
            grid_file = exp / "visualization" / f"val_{name}_{it:08d}.png"
            imwrite_rgb(grid_file, picture)
            text += f" | faces: {grid_file}"
            if tb is not None:
                tb.add_image(f"val/{name}", picture, it, dataformats="HWC")
        logger.info("Validation %s @ iter %d: %s", name, it, text)
        results[name] = line
    net_g_ema.train(was_training)
    return results


# ======================================================================================================================
# Building a run: networks, losses, optimizers, schedulers and the step context


@dataclass
class Training:
    """Everything one iteration needs, as ``build_training`` returns it."""

    nets: Nets
    crit: Criteria
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler]
    step: Step

    def state_dict(self) -> dict:
        """Networks (with the EMA), optimizers, schedulers and the AMP scaler, as a training state holds them."""
        return {
            "nets": {
                **{k: n.state_dict() for k, n in self.nets.trained().items()},
                "net_g_ema": self.nets.g_ema.state_dict(),
            },
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "scaler": self.step.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        for key, net in self.nets.trained().items():
            net.load_state_dict(state["nets"][key])
        self.nets.g_ema.load_state_dict(state["nets"]["net_g_ema"])
        for key, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][key])
        for key, sched in self.schedulers.items():
            sched.load_state_dict(state["schedulers"][key])
        self.step.scaler.load_state_dict(state["scaler"])


def build_training(opts: Options, device: torch.device) -> Training:
    """Networks (pretrained weights loaded, replicas synchronised), criteria, optimizers, schedulers and the step
    context of a GFP-GAN run, from resolved options. Used by train(), the benchmark harness and the reference checks.
    """
    t = opts.train
    memory_format = torch.channels_last if t.channels_last else torch.contiguous_format

    # ---------------------------------------------------------------- Networks
    def build(key: str) -> nn.Module | None:
        return build_network(opts, key, device, memory_format)

    net_g = check_generator(build("network_g"), "network_g", pyramid=t.pyramid_loss_weight > 0)
    net_g_ema = ARCHS.build(opts.network_g, where="network_g").to(
        "cpu" if t.ema_on_cpu else device, memory_format=memory_format
    )
    net_g_ema.load_state_dict(net_g.state_dict())
    if opts.path.pretrain_network_g:  # the reference loads net_g_ema from the same file with params_ema
        with contextlib.suppress(KeyError, RuntimeError, ValueError):
            load_weights(net_g_ema, opts.path.pretrain_network_g, param_key="params_ema")
    net_g_ema.eval().requires_grad_(False)
    net_d = build("network_d")
    components = {part: build(f"network_d_{part}") for part in COMPONENTS} if opts.network_d_left_eye else {}
    identity = None
    if t.identity_weight > 0:
        pretrain = opts.path.pretrain_network_identity
        if pretrain and not Path(pretrain).is_file() and t.skip_losses_without_weights:
            logger.info("identity loss: OFF (ArcFace weights %s not found; skip_losses_without_weights)", pretrain)
        else:
            identity = build("network_identity").eval().requires_grad_(False)
            if not pretrain:
                logger.warning("network_identity has no pretrain_network_identity: identity loss uses a RANDOM ArcFace")
    nets = Nets(net_g, net_g_ema, net_d, components, identity)
    for net in [*nets.trained().values(), net_g_ema]:  # every replica starts from rank 0's weights
        dist.broadcast_params(net)
    logger.info(
        "net_g %s: %.2fM parameters (%.2fM trainable)",
        type(net_g).__name__,
        sum(p.numel() for p in net_g.parameters()) / 1e6,
        sum(p.numel() for p in net_g.parameters() if p.requires_grad) / 1e6,
    )

    # ---------------------------------------------------------------- Losses
    def loss(key: str) -> nn.Module | None:
        return None if t[key] is None else LOSSES.build(t[key], where=f"train.{key}").to(device)

    perceptual = None
    if t.perceptual_opt is not None:
        vgg_weights = t.perceptual_opt.vgg_weights
        if t.skip_losses_without_weights and not _vgg_available(vgg_weights):
            logger.info(
                "perceptual/style loss: OFF (VGG19 weights %s not found; skip_losses_without_weights)", vgg_weights
            )
        else:
            perceptual = loss("perceptual_opt").to(memory_format=memory_format)
    crit = Criteria(
        pixel=loss("pixel_opt"),
        l1=loss("L1_opt"),
        perceptual=perceptual,
        gan=loss("gan_opt"),
        component=loss("gan_component_opt"),
    )
    logger.info(
        "Losses: %s",
        ", ".join(f"{k}={'on' if v is not None else 'off'}" for k, v in vars(crit).items())
        + f", pyramid={t.pyramid_loss_weight}, comp_style={t.comp_style_weight}"
        + f", identity={'on' if identity else 'off'}",
    )

    # ---------------------------------------------------------------- Optimizers, schedulers, AMP
    optimizers = {"net_g": build_optimizer(net_g.parameters(), t.optim_g, "train.optim_g")}
    if net_d is not None:
        spec = lazy_regularization(t.optim_d, t.net_d_reg_every, scale_lr=t.d_lr_scaling == "stylegan2")
        optimizers["net_d"] = build_optimizer(net_d.parameters(), spec, "train.optim_d")
    for part, net in components.items():
        optimizers[f"net_d_{part}"] = build_optimizer(net.parameters(), t.optim_component, "train.optim_component")
    schedulers = {}
    if t.scheduler:
        schedulers = {k: build_scheduler(o, t.scheduler, "train.scheduler") for k, o in optimizers.items()}
    amp_dtype = torch.bfloat16 if t.amp.dtype == "bfloat16" else torch.float16
    scaler = torch.amp.GradScaler(device.type, enabled=t.amp.enabled and amp_dtype == torch.float16)

    def autocast():
        return torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=t.amp.enabled)

    g_forward = torch.compile(net_g) if t.compile else net_g
    step = Step(opts, crit, optimizers, scaler, autocast, g_forward, face_size=net_g.out_size)
    return Training(nets, crit, optimizers, schedulers, step)


# ======================================================================================================================
# Training


def train(opts: Options, launcher: str = "none", auto_resume: bool = False, argv: list[str] | None = None) -> dict:
    """Train GFP-GAN as configured. Returns a summary (final iteration, last validation results, run folder)."""
    # ---------------------------------------------------------------- Setup distributed
    rank, world_size, device = setup_process(opts, launcher)
    t = opts.train

    # ---------------------------------------------------------------- Run folder, log, resume state
    run = start_run(opts, auto_resume, argv, device)
    exp, tb = run.exp, run.tb

    # ---------------------------------------------------------------- Load data
    train_loader, sampler, iters_per_epoch = build_train_loader(opts, rank, world_size, device)
    val_loaders = build_val_loaders(opts) if opts.val is not None else {}
    batch_size = opts.datasets.train.loader.batch_size_per_gpu

    # ---------------------------------------------------------------- Build networks, losses, optimizers
    training = build_training(opts, device)
    nets, step, optimizers, schedulers = training.nets, training.step, training.optimizers, training.schedulers
    memory_format = torch.channels_last if t.channels_last else torch.contiguous_format

    # ---------------------------------------------------------------- Resume
    it, epoch, batch_in_epoch, best, nonfinite = 0, 0, 0, {}, 0
    if run.state is not None:
        training.load_state_dict(run.state)
        it, epoch, batch_in_epoch = run.state["iter"], run.state["epoch"], run.state["batch_in_epoch"]
        best, nonfinite = run.state["best"], run.state["nonfinite"]
        restore_rng(run.state, opts.manual_seed, it)
        logger.info("Resumed from %s at iteration %d (epoch %d, batch %d)", run.resume_path, it, epoch, batch_in_epoch)

    def save(it: int) -> None:
        models = {"net_g": {"params": nets.g.state_dict(), "params_ema": nets.g_ema.state_dict()}}
        models.update({k: {"params": n.state_dict()} for k, n in nets.trained().items() if k != "net_g"})
        state = {
            **training.state_dict(),
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "best": best,
            "nonfinite": nonfinite,
            "options": opts.to_dict(),
        }
        checked = {**nets.trained(), "net_g_ema": nets.g_ema}
        save_training_state(exp, it, models, state, checked, opts.logger.keep_checkpoints)

    # ---------------------------------------------------------------- Train
    logger.info("Start training from iteration %d to %d", it, t.total_iter)
    first_validation, last_val = True, {}
    window = LogWindow(opts.name, t.total_iter, start_iter=it)
    progress = ProgressBar(it, t.total_iter, enabled=dist.is_main())  # a bar on a terminal, log lines otherwise
    while it < t.total_iter:
        sampler.set_epoch(epoch, start=batch_in_epoch * batch_size)
        tic = time.time()
        for batch in train_loader:
            it += 1
            batch_in_epoch += 1
            window.data_time += time.time() - tic
            update_learning_rate(list(optimizers.values()), list(schedulers.values()), it, t.warmup_iter)
            if t.remove_pyramid_loss is not None and it > t.remove_pyramid_loss and not step.pyramid_removed:
                # The reference keeps a 1e-12 pyramid weight so DDP finds every parameter used; we stop computing the
                # pyramid and freeze the toRGB layers instead (they do not affect the final image).
                step.pyramid_removed = True
                if t.pyramid_loss_weight > 0:
                    nets.g.toRGB.requires_grad_(False)
                    logger.info("Iteration %d: pyramid loss removed (toRGB layers frozen)", it)

            lq = batch["lq"].to(device, non_blocking=True).contiguous(memory_format=memory_format)
            gt = batch["gt"].to(device, non_blocking=True).contiguous(memory_format=memory_format)
            boxes = {f"loc_{p}": batch[f"loc_{p}"].to(device) for p in COMPONENTS} if nets.components else {}

            output, crops, g_log, g_ok = generator_step(nets, step, lq, gt, boxes, it)
            update_ema(nets.g_ema, nets.g, t.ema_decay)
            d_log, d_ok = discriminator_step(nets, step, output, gt, crops, it)

            # ---------------- guard against non-finite losses (the same decision on every rank)
            if g_ok and d_ok:
                nonfinite = 0
            else:
                nonfinite += 1
                logger.warning(
                    "Iteration %d: non-finite loss %s; that update skipped on every process (%d in a row)",
                    it, _nonfinite_report(rank, {**g_log, **d_log}, batch, output), nonfinite,
                )  # fmt: skip
                if nonfinite >= t.max_nonfinite_steps:
                    raise TrainingStopped(
                        f"{nonfinite} non-finite losses in a row at iteration {it}: training stopped. No state was "
                        f"saved since the last finite step, so the newest one in {exp / 'training_states'} holds "
                        "healthy weights: check the data (--check-data) or lower train.optim_g.lr / optim_d.lr with "
                        "--set, then --auto_resume."
                    )

            # ---------------- log
            window.add({**g_log, **d_log})
            progress.update(it, g_log, d_log)
            if it % opts.logger.print_freq == 0 or it == t.total_iter or it == window.start_iter + 1:
                window.emit(it, epoch, [g["lr"] for g in optimizers["net_g"].param_groups], tb)

            # ---------------- save
            epoch_done = batch_in_epoch >= iters_per_epoch
            if epoch_done:  # the saved position says "next epoch, first batch"
                epoch, batch_in_epoch = epoch + 1, 0
            if it % opts.logger.save_checkpoint_freq == 0 or it == t.total_iter:
                if nonfinite == 0:
                    save(it)
                elif dist.is_main():  # a state saved now would replace the last healthy one in retention
                    logger.warning("Iteration %d: not saved (%d non-finite steps in a row)", it, nonfinite)

            # ---------------- validate
            if val_loaders and (it % opts.val.val_freq == 0 or it == t.total_iter):
                if dist.is_main():
                    last_val = validate(nets.g_ema, val_loaders, opts, it, device, exp, tb, first_validation, best)
                    first_validation = False
                dist.barrier()
            tic = time.time()
            if it >= t.total_iter or epoch_done:
                break

    # ---------------------------------------------------------------- Done
    progress.close()
    if dist.is_main():
        atomic_save(
            {"params": nets.g.state_dict(), "params_ema": nets.g_ema.state_dict()}, exp / "models" / "net_g_latest.pth"
        )
        for name, line in last_val.items():
            logger.info("Final validation on %s: %s", name, _final_summary(exp / "metrics.jsonl", name, line))
    logger.info(
        "End of training at iteration %d (%s).", it, datetime.timedelta(seconds=int(time.time() - window.start_time))
    )
    finish_process(tb)
    return {"iter": it, "exp": exp, "validation": last_val}


def _nonfinite_report(rank: int, log: dict[str, torch.Tensor], batch: dict, output: torch.Tensor) -> str:
    """Which terms were non-finite on this process and which samples of its batch are suspect."""
    bad = [k for k, v in log.items() if not bool(torch.isfinite(v).all())]
    if not bad:
        return f"on another process (rank {rank}: all finite)"
    paths = batch.get("gt_path") or batch.get("lq_path") or [f"#{i}" for i in range(len(batch["gt"]))]
    suspects = []
    for i, path in enumerate(paths):
        why = [
            name
            for name, x in (("lq", batch["lq"][i]), ("gt", batch["gt"][i]), ("output", output[i]))
            if not bool(torch.isfinite(x).all())
        ]
        if why:
            suspects.append(f"{path} (non-finite {'/'.join(why)})")
    samples = ", ".join(suspects) if suspects else "inputs finite: " + ", ".join(str(p) for p in paths)
    return f"on rank {rank} ({', '.join(bad)}); batch: {samples}"


def _final_summary(metrics_file: Path, name: str, line: dict) -> str:
    """The last validation's scores beside the degraded input's (first validation of the run) and the PSNR gain."""
    summary = ", ".join(f"{k} {v:.4f}" for k, v in line["restored"].items())
    first = _first_input_scores(metrics_file, name)
    if first:
        summary += " | degraded input: " + ", ".join(f"{k} {v:.4f}" for k, v in first.items())
        if "psnr" in first and "psnr" in line["restored"]:
            summary += f" | PSNR gain {line['restored']['psnr'] - first['psnr']:+.2f} dB"
    return summary


def _first_input_scores(metrics_file: Path, name: str) -> dict | None:
    if not metrics_file.is_file():
        return None
    for line in metrics_file.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("dataset") == name and "input" in record:
            return record["input"]
    return None


def _vgg_available(weights: str | None) -> bool:
    if weights is None:
        return True
    if Path(weights).suffix:
        return Path(weights).is_file()
    try:
        get_weights_path(weights, download=False)
        return True
    except WeightsNotFoundError:
        return False


if __name__ == "__main__":
    sys.exit(main())
