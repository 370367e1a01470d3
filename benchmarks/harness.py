"""Benchmark harness: training iterations, generator inference, data and metrics throughput, ours vs the reference.

Every measured configuration runs in its own fresh worker process (so peak memory = that process's ``ru_maxrss``,
or CUDA ``max_memory_allocated``), driven over stdin/stdout with one JSON line per request:

    {"cmd": "time"}   -> {"s": seconds}        one timed call (CUDA-synchronised)
    {"cmd": "flops"}  -> {"flops": int}         FLOPs of one call (torch.utils.flop_counter)
    {"cmd": "info"}   -> {"maxrss_mib", ...}    peak memory and extras (e.g. bf16 error vs float32)

Ours and the reference worker (the reference stack in another interpreter running ``reference_worker.py``, which
imports only reference packages) are timed *interleaved* (A B A B ...) and each side reports the median of its calls
after warm-up: on a shared machine the ratio of medians measured this way is far more stable than absolute times.

Used by ``benchmarks/benchmark.py``; nothing in the product (gfpgan/) imports it.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
OFFICIAL_OPTIONS = REPO / "options" / "train_gfpgan.yml"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Component boxes (x1, y1, x2, y2) in 512-px face coordinates, near the FFHQ mean positions; scaled to out_size.
BOXES_512 = {"left_eye": (150, 210, 230, 290), "right_eye": (282, 210, 362, 290), "mouth": (196, 330, 316, 450)}


# ======================================================================================================================
# Timing, FLOPs, memory, peak


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds of one call of ``fn``, synchronised on CUDA."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def count_flops(fn: Callable[[], Any]) -> int | None:
    """FLOPs of one call (matmuls and convolutions, forward and backward, as FlopCounterMode counts them); None when
    the call uses ``torch.autograd.grad``, which the counter does not support."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with FlopCounterMode(display=False) as counter:
            fn()
    except (RuntimeError, AssertionError):  # FlopCounterMode cannot follow torch.autograd.grad (R1, path length)
        return None  # nor a no_grad forward inside a grad-tracking call (its module tracker asserts)
    return int(counter.get_total_flops())


def peak_rss_mib() -> float:
    """This process's own peak resident set size: ``VmHWM`` of /proc/self/status on Linux.

    Not ``getrusage().ru_maxrss``: Linux carries the parent's resident size at fork into a child's ru_maxrss across
    exec, so a worker smaller than the harness process would report the harness's size.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux (bytes on macOS)


def peak_memory_mib(device: torch.device) -> float:
    """Peak memory of this process: CUDA max allocated on GPU, else its own peak resident set size."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_rss_mib()


def matmul_peak(dtype: torch.dtype, device: torch.device, size: int = 2048, repeats: int = 5) -> float:
    """Achievable FLOP/s of a large square matmul in ``dtype`` (best of ``repeats``)."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    a @ b
    best = min(time_call(lambda: a @ b, device) for _ in range(repeats))
    return 2 * size**3 / best


def environment(threads: int) -> dict[str, Any]:
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


# ======================================================================================================================
# Our side: what one timed call does


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)


def synthetic_batch(batch: int, size: int, device: torch.device, seed: int = 0) -> dict[str, torch.Tensor]:
    """A deterministic smooth ``gt`` (N,3,S,S) in [-1,1] RGB, a noisy blurred ``lq``, and component boxes (N,4)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, max(size // 16, 2), max(size // 16, 2), generator=g) * 2 - 1
    gt = nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)
    lq = (gt + 0.1 * torch.randn(gt.shape, generator=g)).clamp(-1, 1)
    scale = size / 512
    out = {"lq": lq.to(device), "gt": gt.to(device)}
    for part, box in BOXES_512.items():
        out[f"loc_{part}"] = torch.tensor([box], dtype=torch.float32).mul(scale).repeat(batch, 1)
    return out


def train_overrides(cfg: dict) -> list[str]:
    """--set overrides turning options/train_gfpgan.yml into the benchmarked config (random weights, no files)."""
    size, cm, narrow = cfg["out_size"], cfg["channel_multiplier"], cfg["narrow"]
    return [
        f"network_g.out_size={size}",
        f"network_g.channel_multiplier={cm}",
        f"network_g.narrow={narrow}",
        "network_g.decoder_load_path=null",
        f"network_d.out_size={size}",
        f"network_d.channel_multiplier={cm}",
        f"network_d.narrow={narrow}",
        f"datasets.train.out_size={size}",  # not read by the harness; the options require it to match
        "path.pretrain_network_identity=null",
        "train.perceptual_opt.vgg_weights=null",
        f"train.amp.enabled={str(cfg['dtype'] != 'float32').lower()}",
        f"train.amp.dtype={'float16' if cfg['dtype'] == 'float16' else 'bfloat16'}",
        f"train.channels_last={str(cfg['channels_last']).lower()}",
        f"train.compile={str(cfg['compile']).lower()}",
    ]


def build_ours_train(cfg: dict, device: torch.device) -> tuple[Callable[[], Any], dict]:
    """One full GFP-GAN iteration through gfpgan.train's builder and steps; returns (call, state dicts for the
    reference). The call runs generator_step -> update_ema -> discriminator_step at iteration ``cfg["iter"]`` (16 =
    with R1)."""
    from gfpgan import train as T
    from gfpgan.data.components import COMPONENTS
    from gfpgan.options import load_options

    opts, _ = load_options(OFFICIAL_OPTIONS, overrides=train_overrides(cfg))
    _seed_all(0)
    run = T.build_training(opts, device)
    nets = run.nets
    # Component crops of 512-px faces (80/120 px) at every size: the reference's int(out_size / 512) ratio is 0 below
    # 512 (it cannot train there); its worker is patched to ratio 1, so both sides crop the same sizes.
    run.step.face_size = max(cfg["out_size"], 512)
    fmt = torch.channels_last if cfg["channels_last"] else torch.contiguous_format
    data = synthetic_batch(cfg["batch"], cfg["out_size"], device)
    lq = data["lq"].contiguous(memory_format=fmt)
    gt = data["gt"].contiguous(memory_format=fmt)
    boxes = {f"loc_{p}": data[f"loc_{p}"].to(device) for p in COMPONENTS}
    it = int(cfg["iter"])

    def call() -> None:
        output, crops, _, _ = T.generator_step(nets, run.step, lq, gt, boxes, it)
        T.update_ema(nets.g_ema, nets.g, opts.train.ema_decay)
        T.discriminator_step(nets, run.step, output, gt, crops, it)

    weights = {"net_g": nets.g.state_dict(), "net_d": nets.d.state_dict(), "identity": nets.identity.state_dict()}
    weights.update({f"net_d_{p}": n.state_dict() for p, n in nets.components.items()})
    return call, weights


STYLEGAN2_OPTIONS = REPO / "options" / "train_stylegan2.yml"


def build_ours_stylegan2(cfg: dict, device: torch.device) -> tuple[Callable[[], Any], dict]:
    """One StyleGAN2 iteration (D step, G step, EMA) through gfpgan/train_stylegan2.py at iteration ``cfg["iter"]``
    (16: R1 and path-length regularisation both on; 1: neither). Returns (call, state dicts for the reference)."""
    import random

    from gfpgan import train_stylegan2 as S
    from gfpgan.options import load_options
    from gfpgan.run import update_ema

    size, cm, narrow = cfg["out_size"], cfg["channel_multiplier"], cfg["narrow"]
    overrides = [f"network_g.out_size={size}", f"network_g.channel_multiplier={cm}", f"network_g.narrow={narrow}",
                 f"network_d.out_size={size}", f"network_d.channel_multiplier={cm}", f"network_d.narrow={narrow}",
                 f"train.amp.enabled={str(cfg['dtype'] != 'float32').lower()}",
                 f"train.amp.dtype={'float16' if cfg['dtype'] == 'float16' else 'bfloat16'}",
                 f"train.channels_last={str(cfg['channels_last']).lower()}",
                 f"train.compile={str(cfg['compile']).lower()}"]  # fmt: skip
    opts, _ = load_options(STYLEGAN2_OPTIONS, overrides=overrides)
    _seed_all(0)
    random.seed(0)
    prior = S.build_prior(opts, device)
    fmt = torch.channels_last if cfg["channels_last"] else torch.contiguous_format
    real = synthetic_batch(cfg["batch"], size, device)["gt"].contiguous(memory_format=fmt)
    it = int(cfg["iter"])

    def call() -> None:
        S.discriminator_step(prior.g, prior.d, prior.step, real, it)
        S.generator_step(prior.g, prior.d, prior.step, real.shape[0], it, device)
        update_ema(prior.g_ema, prior.g, opts.train.ema_decay)

    return call, {"net_g": prior.g.state_dict(), "net_d": prior.d.state_dict()}


def build_ours_infer(cfg: dict, device: torch.device) -> tuple[Callable[[], Any], Callable[[], dict]]:
    """GFPGANv1Clean forward (no grad, fixed noise) on ``batch`` faces; returns (call, extras).

    The weights go to ``cfg["save_weights"]`` (for the reference side) or a temporary file, not to a copy in memory,
    so this process's peak memory is the forward's; extras() reloads them for the float32 comparison after the peak
    has been read.
    """
    from gfpgan.archs.gfpgan import GFPGANv1Clean

    _seed_all(0)
    kwargs = dict(
        out_size=cfg["out_size"], num_style_feat=512, channel_multiplier=cfg["channel_multiplier"],
        decoder_load_path=None, fix_decoder=False, num_mlp=8, input_is_latent=True, different_w=True,
        narrow=cfg["narrow"], sft_half=True,
    )  # fmt: skip
    net = GFPGANv1Clean(**kwargs).eval().requires_grad_(False)
    weights_file = cfg.get("save_weights") or tempfile.mkstemp(prefix="gfpgan_bench_", suffix=".pth")[1]
    torch.save(net.state_dict(), weights_file)
    fmt = torch.channels_last if cfg["channels_last"] else torch.contiguous_format
    dtype = DTYPES[cfg["dtype"]]
    stored = cfg.get("stored", False)  # weights held in `dtype` instead of autocast casting them on every call
    net = net.to(device, memory_format=fmt)
    x = synthetic_batch(cfg["batch"], cfg["out_size"], device)["lq"].contiguous(memory_format=fmt)
    x_run = x.to(dtype) if stored else x
    net_run = net.to(dtype) if stored else net
    forward = torch.compile(net_run) if cfg["compile"] else net_run
    if cfg.get("restorer"):
        from gfpgan.inference import FaceRestorer

        # no flags: whatever FaceRestorer chooses by itself; seed None = fresh noise as the other variants' buffers
        restorer = FaceRestorer(net=net, device=device, seed=None, use_parse=False)

        def run() -> torch.Tensor:
            return restorer.restore_tensor(x)

    else:

        def run() -> torch.Tensor:
            autocast = dtype != torch.float32 and not stored
            with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=autocast):
                return forward(x_run, return_rgb=False, randomize_noise=False)[0]

    def extras() -> dict:
        if dtype == torch.float32 and not cfg["channels_last"] and not cfg.get("restorer"):
            return {}
        with torch.no_grad():  # the restored output's error against the plain float32 forward
            plain = GFPGANv1Clean(**kwargs).eval().to(device)
            plain.load_state_dict(torch.load(weights_file, weights_only=True))
            if cfg.get("restorer"):  # the same seeded noise maps through a restorer that changes nothing
                from gfpgan.inference import FaceRestorer

                ref = FaceRestorer(net=plain, device=device, use_parse=False, channels_last=False)
                ref = [ref.restore_tensor(x.float().contiguous())]
            else:
                ref = plain(x.float().contiguous(), return_rgb=False, randomize_noise=False)
            out = run().float()
        diff = (out - ref[0]).abs()
        return {"vs_float32": {"max_abs": float(diff.max()), "mean_abs": float(diff.mean()), "range": "[-1,1]"}}

    return run, extras


def build_ours_restore(cfg: dict, device: torch.device) -> Callable[[], Any]:
    """Whole-image restoration (align, restore, paste back) of ``faces`` faces with given landmarks, no detector."""
    from gfpgan.archs.gfpgan import GFPGANv1Clean
    from gfpgan.inference import FaceRestorer

    _seed_all(0)
    net = GFPGANv1Clean(
        out_size=cfg["out_size"], channel_multiplier=cfg["channel_multiplier"], narrow=cfg["narrow"],
        decoder_load_path=None, fix_decoder=False, input_is_latent=True, different_w=True, sft_half=True,
    )  # fmt: skip
    restorer = FaceRestorer(net=net, device=device, dtype=DTYPES[cfg["dtype"]], use_parse=False, upscale=2, seed=0)
    faces = int(cfg["faces"])
    side = cfg["out_size"]
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (side, side * faces, 3), dtype=np.uint8)
    template = np.array([[0.37, 0.46], [0.63, 0.46], [0.5, 0.62], [0.4, 0.75], [0.6, 0.75]]) * side / 2
    landmarks = [template + [side * i + side / 4, side / 4] for i in range(faces)]
    return lambda: restorer.enhance(img, landmarks=landmarks, paste_back=True)


def build_ours_metric(cfg: dict, device: torch.device) -> tuple[Callable[[], Any], Callable[[], dict]]:
    """``cfg["images"]`` (S,S,3) uint8 RGB pairs through one registered metric (update for each, then compute)."""
    from gfpgan.registry import METRICS

    name, size, count = cfg["metric"], cfg["out_size"], cfg["images"]
    spec: dict[str, Any] = {"type": name}
    spec.update(_random_metric_weights(name, Path(cfg["tmp"])))
    metric = METRICS.build(spec, where=f"metrics.{name}", device=device)
    rng = np.random.default_rng(0)
    gts = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(count)]
    imgs = [np.clip(g.astype(np.int16) + rng.integers(-20, 21, g.shape), 0, 255).astype(np.uint8) for g in gts]

    value: dict[str, float] = {}

    def call() -> None:
        metric.reset()
        for img, gt in zip(imgs, gts):
            metric.update(img, gt)
        value["value"] = float(metric.compute())

    return call, lambda: dict(value)


def _random_metric_weights(name: str, tmp: Path) -> dict[str, str]:
    """Seeded random weight files for the learned metrics, so that they build without any download."""
    _seed_all(0)
    tmp.mkdir(parents=True, exist_ok=True)
    if name == "lpips":
        from gfpgan.metrics.lpips import LPIPSNet

        model = LPIPSNet("vgg")  # random backbone and linear layers, the layout of a full lpips.LPIPS state dict
        path = tmp / "lpips_vgg_random.pth"
        torch.save(model.state_dict(), path)
        return {"weights": str(path)}
    if name == "fid":
        from gfpgan.metrics.fid import FIDInceptionV3

        path = tmp / "fid_inception_random.pth"
        torch.save(FIDInceptionV3().state_dict(), path)
        return {"weights": str(path)}
    if name == "deg":
        from gfpgan.archs.arcface import ResNetArcFace

        path = tmp / "arcface_random.pth"
        torch.save(ResNetArcFace(block="IRBlock", layers=(2, 2, 2, 2), use_se=False).state_dict(), path)
        return {"weights": str(path)}
    if name == "lmd":
        from gfpgan.archs.awing import FAN

        sys.path.insert(0, str(REPO / "tests" / "unit"))
        # the LMD goldens' stand-in weights: PyTorch's default init gives heatmaps whose argmax can sit on the border,
        # where facexlib's decoding indexes past the heatmap
        from lmd_inputs import fill_state

        path = tmp / "awing_random.pth"  # facexlib's key layout: the reference worker loads the same file
        torch.save(fill_state(FAN(num_modules=4, num_landmarks=98).state_dict()), path)
        return {"weights": str(path)}
    return {}


# ======================================================================================================================
# The worker loop (ours); the reference worker speaks the same protocol


def serve(call: Callable[[], Any], device: torch.device, extras: Callable[[], dict] | None = None, **info: Any) -> None:
    """Answer JSON requests on stdin until EOF (see the module docstring)."""
    for line in sys.stdin:
        request = json.loads(line)
        if request["cmd"] == "time":
            reply: dict[str, Any] = {"s": time_call(call, device)}
        elif request["cmd"] == "flops":
            reply = {"flops": count_flops(call)}
        else:
            reply = {"maxrss_mib": peak_memory_mib(device), **info, **(extras() if extras else {})}
        print(json.dumps(reply), flush=True)


def worker_main(mode: str, cfg: dict) -> None:
    """Entry point of our worker process (``benchmarks/benchmark.py --worker MODE --config JSON``)."""
    torch.set_num_threads(cfg["threads"])
    device = torch.device(cfg["device"])
    base = peak_memory_mib(device)
    extras = None
    if mode in ("train", "stylegan2"):
        call, weights = (build_ours_train if mode == "train" else build_ours_stylegan2)(cfg, device)
        if cfg.get("save_weights"):
            torch.save(weights, cfg["save_weights"])
    elif mode == "infer":
        call, extras = build_ours_infer(cfg, device)  # writes cfg["save_weights"] itself
    elif mode == "restore":
        call = build_ours_restore(cfg, device)
    elif mode == "metric":
        from gfpgan.utils.malloc import tune_malloc

        tune_malloc()  # as gfpgan-eval / gfpgan-test set their process up (gfpgan/utils/malloc.py)
        call, extras = build_ours_metric(cfg, device)
    else:
        raise SystemExit(f"unknown worker mode {mode!r}")
    print(json.dumps({"ready": True, "maxrss_after_build_mib": peak_memory_mib(device), "maxrss_import_mib": base}))
    sys.stdout.flush()
    serve(call, device, extras)


# ======================================================================================================================
# The reference worker (runs under the reference interpreter; imports only the reference stack)

REFERENCE_WORKER = Path(__file__).resolve().with_name("reference_worker.py")


# ======================================================================================================================
# Driving workers


class Worker:
    """A worker process answering the JSON protocol; ``None`` python = our interpreter (benchmarks/benchmark.py)."""

    def __init__(self, mode: str, cfg: dict, reference_python: str | None = None) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": str(cfg["threads"]), "MKL_NUM_THREADS": str(cfg["threads"])}
        if reference_python is None:
            cmd = [
                sys.executable,
                str(REPO / "benchmarks" / "benchmark.py"),
                "--worker",
                mode,
                "--config",
                json.dumps(cfg),
            ]
            cwd = str(REPO)
        else:
            cmd = [reference_python, str(REFERENCE_WORKER), json.dumps(cfg), mode]
            cwd = tempfile.gettempdir()  # never import the project from the reference interpreter
            env.pop("PYTHONPATH", None)
        self.name = f"{'reference' if reference_python else 'ours'}:{mode}"
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env
        )
        self.ready = self._read()

    def _read(self) -> dict:
        while True:
            line = self.proc.stdout.readline()
            if not line:
                err = self.proc.stderr.read()[-3000:]
                raise RuntimeError(f"{self.name} worker died (exit {self.proc.wait()}):\n{err}")
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)

    def ask(self, cmd: str) -> dict:
        self.proc.stdin.write(json.dumps({"cmd": cmd}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


@contextmanager
def workers(specs: list[tuple[str, dict, str | None]]) -> Iterator[list[Worker | None]]:
    """Start the workers one after another (a failing reference yields None and an error entry)."""
    started: list[Worker | None] = []
    try:
        for mode, cfg, python in specs:
            try:
                started.append(Worker(mode, cfg, python))
            except RuntimeError as e:
                if python is None:
                    raise
                print(f"reference worker unavailable: {e}", file=sys.stderr)
                started.append(None)
        yield started
    finally:
        for w in started:
            if w is not None:
                w.close()


def measure(ws: list[Worker | None], warmup: int, repeats: int, flops: bool = True) -> list[dict | None]:
    """Warm up each worker, then time them interleaved (A B A B ...); median seconds, FLOPs and peak memory."""
    live = [w for w in ws if w is not None]
    for _ in range(warmup):
        for w in live:
            w.ask("time")
    times: dict[int, list[float]] = {id(w): [] for w in live}
    for _ in range(repeats):
        for w in live:
            times[id(w)].append(w.ask("time")["s"])
    results: list[dict | None] = []
    for w in ws:
        if w is None:
            results.append(None)
            continue
        t = times[id(w)]
        r = {"median_s": statistics.median(t), "min_s": min(t), "times_s": [round(x, 4) for x in t]}
        if flops:
            r["flops"] = w.ask("flops")["flops"]
        info = w.ask("info")
        r.update(info)
        r["maxrss_after_build_mib"] = w.ready.get("maxrss_after_build_mib")
        if "loaded" in w.ready:
            r["reference_loaded_our_weights"] = w.ready["loaded"]
        results.append(r)
    return results


def add_efficiency(result: dict, peaks: dict[str, float], dtype: str) -> None:
    """Achieved FLOP/s and its fraction of the matmul peak of the compute dtype."""
    if not result or not result.get("flops"):
        return
    achieved = result["flops"] / result["median_s"]
    peak = peaks["bfloat16" if dtype == "bfloat16" else "float32"]
    result["gflops_per_call"] = round(result["flops"] / 1e9, 2)
    result["achieved_gflop_s"] = round(achieved / 1e9, 2)
    result["fraction_of_matmul_peak"] = round(achieved / peak, 3)


def variant_cfg(name: str) -> dict:
    """'float32', 'bfloat16', 'float16', optionally '+cl' (channels_last), '+compile' and, for ``infer``, '+stored'
    (the network held in that dtype instead of autocast); or, for ``infer``, 'default': ``FaceRestorer`` built
    without any flag, timed through ``restore_tensor`` (the path ``gfpgan-infer`` and the API give a user)."""
    if name == "default":
        return {"dtype": "float32", "channels_last": False, "compile": False, "stored": False, "restorer": True}
    parts = name.split("+")
    if parts[0] not in DTYPES or any(p not in ("cl", "compile", "stored") for p in parts[1:]):
        raise ValueError(f"variant {name!r}: expected DTYPE[+cl][+compile][+stored], DTYPE in {', '.join(DTYPES)}")
    flags = parts[1:]
    return {
        "dtype": parts[0],
        "channels_last": "cl" in flags,
        "compile": "compile" in flags,
        "stored": "stored" in flags,
    }
