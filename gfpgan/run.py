"""What every training procedure needs around its loop, and test.py too: device, seeding and the RNG streams, the
run folder and its log, networks with their pretrained weights, datasets and loaders, the saved training state, and
the periodic log line.

Nothing here knows a loss or the order of an iteration: that stays in the procedure's own file (gfpgan/train.py).
"""

from __future__ import annotations

import datetime
import inspect
import logging
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from gfpgan.data.sampler import EnlargedSampler
from gfpgan.data.worker import worker_init
from gfpgan.options import OptionError, Options, dump_options
from gfpgan.registry import ARCHS, DATASETS
from gfpgan.utils import dist
from gfpgan.utils.checkpoint import (
    atomic_save,
    find_resume_state,
    load_training_state,
    prune_checkpoints,
    remove_stale_temporaries,
    save_verified_state,
)
from gfpgan.utils.state_dict import load_weights

logger = logging.getLogger("gfpgan")

__all__ = [
    "LogWindow",
    "ProgressBar",
    "TrainingStopped",
    "Run",
    "build_dataset",
    "build_network",
    "build_train_loader",
    "build_val_loaders",
    "finish_process",
    "resolve_device",
    "rng_state",
    "save_training_state",
    "seed_everything",
    "setup_process",
    "set_rng_state",
    "start_run",
    "update_ema",
]


# ======================================================================================================================
# Device, seeds, RNG streams


def resolve_device(num_gpu: int | str, local_rank: int = 0) -> torch.device:
    """The option ``num_gpu`` (0 = CPU, auto = CUDA when present) as the device of the process ``local_rank``."""
    if num_gpu == 0 or not torch.cuda.is_available():
        if num_gpu not in (0, "auto"):
            raise OptionError(f"num_gpu: {num_gpu} requested but CUDA is not available; use num_gpu: 0 for CPU.")
        return torch.device("cpu")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """Python, numpy, torch and CUDA RNG states as tensors and plain values (loadable with weights_only=True)."""
    np_state = np.random.get_state(legacy=False)
    return {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": np_state["state"]["pos"],
            "has_gauss": np_state["has_gauss"],
            "gauss": np_state["gauss"],
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def setup_process(opts: Options, launcher: str) -> tuple[int, int, torch.device]:
    """The start of every training procedure: join the process group (``dist_params``; timeout included), pick this
    process's device, set torch's threads (``num_threads``), seed the RNGs (``manual_seed`` + rank) and cuDNN's
    autotuner. Returns (rank, world_size, device)."""
    dp = opts.dist_params
    rank, world_size, local_rank = dist.init_dist(launcher, dp.backend, dp.port, dp.timeout_minutes)
    device = resolve_device(opts.num_gpu, local_rank)
    if opts.num_threads:
        torch.set_num_threads(opts.num_threads)
    seed_everything(opts.manual_seed + rank)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = opts.train.cudnn_benchmark
    return rank, world_size, device


def finish_process(tb: Any = None) -> None:
    """The end of every training procedure: close tensorboard, wait for every rank, leave the process group."""
    if tb is not None:
        tb.close()
    if dist.is_dist():
        dist.barrier()
        torch.distributed.destroy_process_group()


# ======================================================================================================================
# Networks and data


def build_network(
    opts: Options,
    key: str,
    device: torch.device | str = "cpu",
    memory_format: torch.memory_format = torch.contiguous_format,
    param_key: str | None = None,
) -> nn.Module | None:
    """The network of option block ``key`` (e.g. ``network_g``) with the weights of ``path.pretrain_<key>``.

    ``param_key`` overrides ``path.param_key_<suffix>`` (~ there means auto: params_ema, params, raw). None when the
    block is absent.
    """
    if opts[key] is None:
        return None
    net = ARCHS.build(opts[key], where=key).to(device, memory_format=memory_format)
    suffix = key.removeprefix("network_")
    pretrain = opts.path[f"pretrain_network_{suffix}"]
    if pretrain:
        load_weights(
            net,
            Path(pretrain).expanduser(),
            param_key=param_key or opts.path[f"param_key_{suffix}"] or "auto",
            strict=opts.path[f"strict_load_{suffix}"] is not False,
        )
        logger.info("%s: loaded %s", key, pretrain)
    return net


def build_dataset(spec: Options, where: str, seed: int):
    """The dataset of a ``datasets.<phase>`` block (its loader keys left out); ``seed`` when the class takes one."""
    kwargs = {k: v for k, v in spec.items() if k != "loader"}
    obj, _ = DATASETS.check(kwargs, where)
    if "seed" in inspect.signature(obj.__init__).parameters and "seed" not in kwargs:
        kwargs["seed"] = seed
    return DATASETS.build(kwargs, where=where)


def build_train_loader(opts: Options, rank: int, world_size: int, device: torch.device):
    """The training set, its sampler (resumable position) and DataLoader. Returns (loader, sampler, iters per epoch)."""
    spec = opts.datasets.train
    loader_opt = spec.loader
    train_set = build_dataset(spec, "datasets.train", opts.manual_seed)
    sampler = EnlargedSampler(
        len(train_set), world_size, rank, loader_opt.dataset_enlarge_ratio, seed=opts.manual_seed,
        shuffle=loader_opt.use_shuffle,
    )  # fmt: skip
    batch_size = loader_opt.batch_size_per_gpu
    iters_per_epoch = len(sampler) // batch_size
    if iters_per_epoch == 0:
        raise OptionError(
            f"datasets.train: {len(train_set)} images are fewer than one batch of {batch_size} per process "
            f"({world_size} processes): add images, lower batch_size_per_gpu or raise dataset_enlarge_ratio."
        )
    workers = loader_opt.num_worker_per_gpu
    loader = DataLoader(
        train_set,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        drop_last=True,
        pin_memory=device.type == "cuda" if loader_opt.pin_memory is None else loader_opt.pin_memory,
        persistent_workers=workers > 0 and loader_opt.persistent_workers,
        prefetch_factor=loader_opt.prefetch_factor if workers > 0 else None,
        worker_init_fn=worker_init if loader_opt.tune_malloc else None,
        generator=torch.Generator(),  # keeps the global torch RNG (G's noise) independent of loader restarts
    )
    logger.info(
        "Training set: %d images, %d iterations per epoch (batch %d x %d processes)",
        len(train_set), iters_per_epoch, batch_size, world_size,
    )  # fmt: skip
    return loader, sampler, iters_per_epoch


def build_val_loaders(opts: Options, prefixes: tuple[str, ...] = ("val",)) -> dict[str, DataLoader]:
    """One DataLoader per ``datasets.<prefix>*`` block, in file order; ``loader.dataset_name`` is the block's name."""
    loaders = {}
    for phase, spec in opts.datasets.items():
        if not phase.startswith(prefixes):
            continue
        loader = DataLoader(
            build_dataset(spec, f"datasets.{phase}", opts.manual_seed),
            batch_size=spec.loader.batch_size_per_gpu,
            shuffle=False,
            num_workers=spec.loader.num_worker_per_gpu,
            worker_init_fn=worker_init if spec.loader.tune_malloc else None,
        )
        loader.dataset_name = spec.get("name") or phase
        loaders[phase] = loader
    return loaders


# ======================================================================================================================
# The run folder, its log and the training state


@dataclass
class Run:
    """A started run: its folder, the training state it resumes from (None for a fresh start) and tensorboard."""

    exp: Path
    state: dict | None
    resume_path: str | None
    tb: Any = None  # a SummaryWriter on the main process when logger.use_tb_logger


def start_run(opts: Options, auto_resume: bool, argv: list[str] | None, device: torch.device) -> Run:
    """Find the state to resume from, prepare experiments/<name> (archived when it exists and the run is fresh),
    start the log file, dump the resolved options and open tensorboard (main process)."""
    exp = Path(opts.path.experiments_root or Path("experiments") / opts.name)
    resume_path = opts.path.resume_state
    if auto_resume and resume_path is None:
        found = find_resume_state(exp / "training_states")
        resume_path = str(found) if found else None
    state = load_training_state(resume_path) if resume_path else None
    if dist.is_main():
        if exp.exists() and state is None:
            archived = exp.with_name(f"{exp.name}_archived_{datetime.datetime.now():%Y%m%d_%H%M%S}")
            exp.rename(archived)
            print(f"Experiment folder {exp} exists: archived as {archived}")
        for sub in ("models", "training_states", "visualization"):
            (exp / sub).mkdir(parents=True, exist_ok=True)
    dist.barrier()
    stamp = f"{datetime.datetime.now():%Y%m%d_%H%M%S}"
    _setup_logging(exp / f"train_{opts.name}_{stamp}.log", dist.is_main())
    if dist.is_main():  # what a killed writer left behind (a full training state each, at 512 px)
        count, size = remove_stale_temporaries(exp / "models", exp / "training_states")
        if count:
            logger.info("Removed %d stale temporary files (%.1f MB) left by an interrupted save", count, size / 1e6)
    tb = None
    if dist.is_main():
        (exp / "options.yml").write_text(
            f"# generated {stamp} by: {' '.join(argv or [])}\n" + dump_options(opts), encoding="utf-8"
        )
        if opts.logger.use_tb_logger:
            from torch.utils.tensorboard import SummaryWriter

            tb = SummaryWriter(log_dir=str(Path("tb_logger") / opts.name))
    logger.info(
        "torch %s, device %s, world size %d, run folder %s", torch.__version__, device, dist.get_world_size(), exp
    )
    return Run(exp, state, resume_path, tb)


def _setup_logging(log_file: Path | None, main: bool) -> None:
    logger.handlers.clear()
    logger.setLevel(logging.INFO if main else logging.WARNING)
    logger.propagate = False
    fmt = logging.Formatter("%(asctime)s %(levelname)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(fmt)
    logger.addHandler(console)
    if log_file is not None and main:
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(fmt)
        logger.addHandler(handler)


def save_training_state(
    exp: Path, it: int, models: dict[str, dict], state: dict, checked: dict[str, nn.Module], keep: int | None
) -> None:
    """Write ``models/<stem>_<it>.pth`` for each entry of ``models`` and ``training_states/<it>.state``, atomically;
    the state is verified (finite networks, sha256 sidecar; gfpgan/utils/checkpoint.py), written last.

    ``state`` (with ``state["nets"]``) gets the RNG streams of every rank (gathered) and the world size. Before
    anything is written the parameters of ``checked`` are verified identical on every rank. Only the main process
    writes; then the oldest states beyond ``keep`` are pruned (verified states only count).
    """
    dist.check_same_across_ranks(checked)
    world_size = dist.get_world_size()
    if dist.is_dist():
        logger.info("Iteration %d: parameters identical across %d processes", it, world_size)
    rng = [rng_state()]
    if dist.is_dist():
        rng = [None] * world_size
        torch.distributed.all_gather_object(rng, rng_state())
    if not dist.is_main():
        return
    for stem, payload in models.items():
        atomic_save(payload, exp / "models" / f"{stem}_{it}.pth")
    state = {**state, "iter": it, "world_size": world_size, "rng": rng}
    save_verified_state(state, exp / "training_states" / f"{it}.state")
    prune_checkpoints(exp, keep)
    logger.info("Saved models and training state at iteration %d", it)


def restore_rng(state: dict, seed: int, it: int) -> None:
    """This rank's RNG streams from a training state; reseeded (with a warning) when the world size changed."""
    rank, world_size = dist.get_rank(), dist.get_world_size()
    if state["world_size"] == world_size:
        set_rng_state(state["rng"][rank])
    else:
        logger.warning(
            "resuming with %d processes instead of %d: RNG streams are reseeded", world_size, state["world_size"]
        )
        seed_everything(seed + rank + it)


# ======================================================================================================================
# The periodic log line


@dataclass
class LogWindow:
    """Means of the logged values over the iterations since the last line, averaged across ranks when printed."""

    name: str
    total_iter: int
    start_iter: int
    start_time: float = field(default_factory=time.time)
    data_time: float = 0.0
    values: dict[str, torch.Tensor] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    iters: int = 0

    def add(self, log: dict[str, torch.Tensor]) -> None:
        """Accumulate one iteration's values. A non-finite value is left out of its mean, but its key is kept: every
        rank logs the same keys, so the reduction across ranks stays one collective of the same size everywhere."""
        for k, v in log.items():
            v = v.detach().float().reshape(())
            finite = bool(torch.isfinite(v))
            self.values[k] = self.values.get(k, 0) + (v if finite else torch.zeros_like(v))
            self.counts[k] = self.counts.get(k, 0) + int(finite)
        self.iters += 1

    def emit(self, it: int, epoch: int, lrs: list[float], tb: Any = None) -> dict[str, float]:
        """Log one BasicSR-style line (means, lr, ETA, time per iteration and data time) and reset the window."""
        means = dist.reduce_mean(self.values, self.counts)
        done = max(it - self.start_iter, 1)
        per_iter = (time.time() - self.start_time) / done
        eta = datetime.timedelta(seconds=int(per_iter * (self.total_iter - it)))
        logger.info(
            "[%s..][epoch:%3d, iter:%8d, lr:(%s)] [eta: %s, time (data): %.3f (%.3f)] %s",
            self.name[:5], epoch, it, ",".join(f"{lr:.3e}" for lr in lrs), eta, per_iter, self.data_time / done,
            " ".join(f"{k}: {v:.4e}" for k, v in means.items()),
        )  # fmt: skip
        if tb is not None:
            for k, v in means.items():
                tb.add_scalar(k, v, it)
            tb.add_scalar("lr/net_g", lrs[0], it)
        self.values, self.counts, self.iters = {}, {}, 0
        return means


class ProgressBar:
    """A tqdm bar (iterations, it/s, ETA, the last losses) on the main process when stderr is a terminal; nothing
    otherwise (the periodic log lines stand alone). Log records are routed through the bar while it is shown."""

    def __init__(self, start: int, total: int, enabled: bool = True) -> None:
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            self.bar = tqdm(total=total, initial=start, unit="it", dynamic_ncols=True, file=sys.stderr)
            self._redirect = logging_redirect_tqdm(loggers=[logger])
            self._redirect.__enter__()

    def update(self, it: int, *logs: dict[str, torch.Tensor]) -> None:
        if self.bar is None:
            return
        self.bar.update(it - self.bar.n)
        shown = {}
        for log in logs:
            for key in ("loss/g/total", "loss/d/gan"):
                if key in log:
                    shown[key.split("/", 1)[1]] = f"{float(log[key]):.3g}"
        self.bar.set_postfix(shown, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self._redirect.__exit__(None, None, None)
            self.bar.close()
            self.bar = None


class TrainingStopped(RuntimeError):
    """Training cannot go on (e.g. non-finite losses in a row); the message says what was kept and what to do."""


@torch.no_grad()
def update_ema(ema: nn.Module, net: nn.Module, decay: float) -> None:
    """ema = decay * ema + (1 - decay) * net for parameters (the reference's formula); buffers are copied."""
    ema_params = [p for p in ema.parameters()]
    params = [p.detach().to(p_ema.device) for p, p_ema in zip(net.parameters(), ema_params)]
    torch._foreach_mul_(ema_params, decay)
    torch._foreach_add_(ema_params, params, alpha=1 - decay)
    for b_ema, b in zip(ema.buffers(), net.buffers()):
        b_ema.copy_(b)
