"""Benchmark harness: training iterations, generator inference, data and metrics throughput, ours vs the reference.

Every measured configuration runs in its own fresh worker process (so peak memory = that process's ``ru_maxrss``,
or CUDA ``max_memory_allocated``), driven over stdin/stdout with one JSON line per request:

    {"cmd": "time"}   -> {"s": seconds}        one timed call (CUDA-synchronised)
    {"cmd": "flops"}  -> {"flops": int}         FLOPs of one call (torch.utils.flop_counter)
    {"cmd": "info"}   -> {"maxrss_mib", ...}    peak memory and extras (e.g. bf16 error vs float32)

Ours and the reference worker (the reference stack in another interpreter, driven by ``REFERENCE_WORKER``, which
imports only reference packages) are timed *interleaved* (A B A B ...) and each side reports the median of its calls
after warm-up: on a shared machine the ratio of medians measured this way is far more stable than absolute times.

Used by ``scripts/benchmark.py``; nothing here is imported by training or inference.
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
    except RuntimeError:  # FlopCounterMode cannot follow torch.autograd.grad (the R1 double backward)
        return None
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
        "path.pretrain_network_identity=null",
        "train.perceptual_opt.vgg_weights=null",
        f"train.amp.enabled={str(cfg['dtype'] != 'float32').lower()}",
        f"train.amp.dtype={'float16' if cfg['dtype'] == 'float16' else 'bfloat16'}",
        f"train.channels_last={str(cfg['channels_last']).lower()}",
        f"train.compile={str(cfg['compile']).lower()}",
    ]


def build_ours_train(cfg: dict, device: torch.device) -> tuple[Callable[[], Any], dict]:
    """One full GFP-GAN iteration through gfpgan.train's step functions; returns (call, state dicts for the reference).

    The call runs generator_step -> update_ema -> discriminator_step at iteration ``cfg["iter"]`` (16 = with R1).
    """
    from gfpgan import train as T
    from gfpgan.optim import build_optimizer
    from gfpgan.options import load_options
    from gfpgan.registry import ARCHS, LOSSES

    opts, _ = load_options(OFFICIAL_OPTIONS, overrides=train_overrides(cfg))
    t = opts.train
    fmt = torch.channels_last if cfg["channels_last"] else torch.contiguous_format
    _seed_all(0)

    def build(key: str) -> nn.Module:
        return ARCHS.build(opts[key], where=key).to(device, memory_format=fmt)

    net_g = build("network_g")
    net_g_ema = build("network_g").eval().requires_grad_(False)
    net_g_ema.load_state_dict(net_g.state_dict())
    net_d = build("network_d")
    components = {part: build(f"network_d_{part}") for part in T.COMPONENTS}
    identity = build("network_identity").eval().requires_grad_(False)
    nets = T.Nets(net_g, net_g_ema, net_d, components, identity)
    crit = T.Criteria(
        pixel=LOSSES.build(t.pixel_opt, where="pixel_opt").to(device),
        l1=LOSSES.build(t.L1_opt, where="L1_opt").to(device),
        perceptual=LOSSES.build(t.perceptual_opt, where="perceptual_opt").to(device, memory_format=fmt),
        gan=LOSSES.build(t.gan_opt, where="gan_opt").to(device),
        component=LOSSES.build(t.gan_component_opt, where="gan_component_opt").to(device),
    )
    optimizers = {"net_g": build_optimizer(net_g.parameters(), T._optim_spec(t.optim_g, (0.0, 0.99)), "optim_g")}
    optimizers["net_d"] = build_optimizer(net_d.parameters(), T._optim_spec(t.optim_d, (0.0, 0.99), 16), "optim_d")
    for part, net in components.items():
        spec = T._optim_spec(t.optim_component, (0.9, 0.99))
        optimizers[f"net_d_{part}"] = build_optimizer(net.parameters(), spec, "optim_component")
    dtype = DTYPES[cfg["dtype"]]
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    def autocast():
        return torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype != torch.float32)

    g_forward = torch.compile(net_g) if cfg["compile"] else net_g
    # Component crops of 512-px faces (80/120 px) at every size: the reference's int(out_size / 512) ratio is 0 below
    # 512 (it cannot train there); its worker is patched to ratio 1, so both sides crop the same sizes.
    step = T.Step(opts, crit, optimizers, scaler, autocast, g_forward, max(cfg["out_size"], 512))
    data = synthetic_batch(cfg["batch"], cfg["out_size"], device)
    lq = data["lq"].contiguous(memory_format=fmt)
    gt = data["gt"].contiguous(memory_format=fmt)
    boxes = {f"loc_{p}": data[f"loc_{p}"].to(device) for p in T.COMPONENTS}
    it = int(cfg["iter"])

    def call() -> None:
        output, crops, _, _ = T.generator_step(nets, step, lq, gt, boxes, it)
        T.update_ema(net_g_ema, net_g, t.ema_decay)
        T.discriminator_step(nets, step, output, gt, crops, it)

    weights = {"net_g": net_g.state_dict(), "net_d": net_d.state_dict(), "identity": identity.state_dict()}
    weights.update({f"net_d_{p}": n.state_dict() for p, n in components.items()})
    return call, weights


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

    def run() -> torch.Tensor:
        autocast = dtype != torch.float32 and not stored
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=autocast):
            return forward(x_run, return_rgb=False, randomize_noise=False)[0]

    def extras() -> dict:
        if dtype == torch.float32 and not cfg["channels_last"]:
            return {}
        with torch.no_grad():  # the restored output's error against the plain float32 forward
            plain = GFPGANv1Clean(**kwargs).eval().to(device)
            plain.load_state_dict(torch.load(weights_file, weights_only=True))
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
    """Entry point of our worker process (``scripts/benchmark.py --worker MODE --config JSON``)."""
    torch.set_num_threads(cfg["threads"])
    device = torch.device(cfg["device"])
    base = peak_memory_mib(device)
    extras = None
    if mode == "train":
        call, weights = build_ours_train(cfg, device)
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

REFERENCE_WORKER = r"""
import json, math, resource, sys, time
import torch
import torch.nn.functional as F
cfg = json.loads(sys.argv[1]); mode = sys.argv[2]
torch.set_num_threads(cfg["threads"])
device = torch.device(cfg["device"])

def fused_leaky_relu(x, bias, negative_slope=0.2, scale=2 ** 0.5):
    return F.leaky_relu(x + bias.view(1, -1, *([1] * (x.ndim - 2))), negative_slope) * scale

class FusedLeakyReLU(torch.nn.Module):  # the CUDA-only op, as its exact formula
    def __init__(self, channel, negative_slope=0.2, scale=2 ** 0.5):
        super().__init__(); self.bias = torch.nn.Parameter(torch.zeros(channel))
        self.negative_slope, self.scale = negative_slope, scale
    def forward(self, x):
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)

import basicsr.ops.fused_act as fa
fa.FusedLeakyReLU, fa.fused_leaky_relu = FusedLeakyReLU, fused_leaky_relu
for name in ("basicsr.archs.stylegan2_arch", "gfpgan.archs.gfpganv1_arch"):
    try:
        m = __import__(name, fromlist=["x"]); m.FusedLeakyReLU, m.fused_leaky_relu = FusedLeakyReLU, fused_leaky_relu
    except Exception as e:
        print("patch", name, e, file=sys.stderr)

def sync():
    if device.type == "cuda":
        torch.cuda.synchronize()

def peak():  # the process's own peak RSS (VmHWM; ru_maxrss would include the harness's size at fork)
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2 ** 20
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024

def batch(n, size):
    g = torch.Generator().manual_seed(0)
    coarse = torch.rand(n, 3, max(size // 16, 2), max(size // 16, 2), generator=g) * 2 - 1
    gt = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)
    lq = (gt + 0.1 * torch.randn(gt.shape, generator=g)).clamp(-1, 1)
    return lq.to(device), gt.to(device)

base = peak()
weights = torch.load(cfg["load_weights"]) if cfg.get("load_weights") else None
loaded = []
value = {}
torch.manual_seed(0)
if mode == "infer":
    from gfpgan.archs.gfpganv1_clean_arch import GFPGANv1Clean
    net = GFPGANv1Clean(out_size=cfg["out_size"], num_style_feat=512, channel_multiplier=cfg["channel_multiplier"],
                        decoder_load_path=None, fix_decoder=False, num_mlp=8, input_is_latent=True,
                        different_w=True, narrow=cfg["narrow"], sft_half=True).eval().to(device)
    if weights is not None:
        net.load_state_dict(weights, strict=True); loaded.append("net_g")
    x, _ = batch(cfg["batch"], cfg["out_size"])
    def call():
        with torch.no_grad():
            net(x, return_rgb=False, randomize_noise=False)
elif mode == "metric":  # the reference computation of each metric, on the images and weight files ours uses
    import os, warnings
    import numpy as np
    name, size, count = cfg["metric"], cfg["out_size"], cfg["images"]
    rng = np.random.default_rng(0)  # the same pairs as build_ours_metric
    gts = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(count)]
    imgs = [np.clip(g.astype(np.int16) + rng.integers(-20, 21, g.shape), 0, 255).astype(np.uint8) for g in gts]
    def batch01(images):  # (H,W,3) uint8 RGB list -> (N,3,H,W) float in [0,1]
        return torch.stack([torch.from_numpy(i).permute(2, 0, 1) for i in images]).float().div(255.0).to(device)
    if name in ("psnr", "ssim"):
        from basicsr.metrics.psnr_ssim import calculate_psnr, calculate_ssim
        fn = calculate_psnr if name == "psnr" else calculate_ssim
        def call():
            value["v"] = float(np.mean([fn(i, g, crop_border=0, input_order="HWC", test_y_channel=False)
                                        for i, g in zip(imgs, gts)]))
    elif name == "niqe":
        from basicsr.metrics.niqe import calculate_niqe
        def call():  # BasicSR takes BGR (its Y conversion is bgr2ycbcr)
            value["v"] = float(np.mean([calculate_niqe(i[..., ::-1], crop_border=0, input_order="HWC", convert_to="y")
                                        for i in imgs]))
    elif name == "lpips":
        import lpips
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False).eval().to(device)
        model.load_state_dict(torch.load(os.path.join(cfg["tmp"], "lpips_vgg_random.pth"))); loaded.append("lpips")
        def call():
            with torch.no_grad():
                a, b = batch01(imgs) * 2 - 1, batch01(gts) * 2 - 1
                value["v"] = float(model(a, b).mean())
    elif name == "fid":
        import pytorch_fid.inception as pfi
        from pytorch_fid.fid_score import calculate_frechet_distance
        state = torch.load(os.path.join(cfg["tmp"], "fid_inception_random.pth"))
        state.setdefault("fc.weight", torch.zeros(1008, 2048))  # the classifier pytorch-fid's file also holds;
        state.setdefault("fc.bias", torch.zeros(1008))  # unused by the pool3 features
        pfi.load_state_dict_from_url = lambda *a, **k: state  # our seeded weights instead of the download
        model = pfi.InceptionV3([3]).eval().to(device); loaded.append("fid")
        def features(images):
            with torch.no_grad():
                return model(batch01(images))[0].flatten(1).double().cpu().numpy()
        def call():
            a, b = features(imgs), features(gts)
            value["v"] = float(calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False),
                                                          b.mean(0), np.cov(b, rowvar=False)))
    elif name == "deg":
        from gfpgan.archs.arcface_arch import ResNetArcFace
        from gfpgan.models.gfpgan_model import GFPGANModel
        arc = ResNetArcFace(block="IRBlock", layers=[2, 2, 2, 2], use_se=False)
        arc.load_state_dict(torch.load(os.path.join(cfg["tmp"], "arcface_random.pth"))); loaded.append("deg")
        arc = arc.eval().to(device)
        def call():  # the identity loss's input preparation, then the angle in degrees
            with torch.no_grad():
                emb = [arc(GFPGANModel.gray_resize_for_identity(None, batch01(s) * 2 - 1)).double()
                       for s in (imgs, gts)]
            cos = (F.normalize(emb[0], dim=1) * F.normalize(emb[1], dim=1)).sum(1).clamp(-1, 1)
            value["v"] = float(torch.rad2deg(torch.arccos(cos)).mean())
    else:
        raise SystemExit(f"reference worker: unknown metric {name!r}")
else:
    import torchvision.models as tvm
    import basicsr.archs.vgg_arch as vgg_arch
    vgg_arch.vgg.vgg19 = lambda pretrained=False, **kw: tvm.vgg19(weights=None)  # random VGG, no download
    from basicsr.models.base_model import BaseModel
    from gfpgan.models.gfpgan_model import GFPGANModel
    original_get_optimizer = BaseModel.get_optimizer
    def get_optimizer(self, optim_type, params, lr, **kwargs):  # torch 2 needs float betas
        if "betas" in kwargs:
            kwargs["betas"] = tuple(float(b) for b in kwargs["betas"])
        return original_get_optimizer(self, optim_type, params, lr, **kwargs)
    BaseModel.get_optimizer = get_optimizer
    size, cm, narrow = cfg["out_size"], cfg["channel_multiplier"], cfg["narrow"]
    opt = {
        "is_train": True, "dist": False, "num_gpu": 1 if device.type == "cuda" else 0, "rank": 0, "world_size": 1,
        "network_g": {"type": "GFPGANv1", "out_size": size, "num_style_feat": 512, "channel_multiplier": cm,
                      "resample_kernel": [1, 3, 3, 1], "decoder_load_path": None, "fix_decoder": True, "num_mlp": 8,
                      "lr_mlp": 0.01, "input_is_latent": True, "different_w": True, "narrow": narrow,
                      "sft_half": True},
        "network_d": {"type": "StyleGAN2Discriminator", "out_size": size, "channel_multiplier": cm,
                      "resample_kernel": [1, 3, 3, 1], "narrow": narrow},
        "network_d_left_eye": {"type": "FacialComponentDiscriminator"},
        "network_d_right_eye": {"type": "FacialComponentDiscriminator"},
        "network_d_mouth": {"type": "FacialComponentDiscriminator"},
        "network_identity": {"type": "ResNetArcFace", "block": "IRBlock", "layers": [2, 2, 2, 2], "use_se": False},
        "path": {"pretrain_network_g": None, "pretrain_network_d": None, "pretrain_network_identity": None},
        "train": {
            "optim_g": {"type": "Adam", "lr": 2e-3}, "optim_d": {"type": "Adam", "lr": 2e-3},
            "optim_component": {"type": "Adam", "lr": 2e-3},
            "scheduler": {"type": "MultiStepLR", "milestones": [600000, 700000], "gamma": 0.5},
            "total_iter": 800000, "warmup_iter": -1,
            "pixel_opt": {"type": "L1Loss", "loss_weight": 0.1, "reduction": "mean"},
            "L1_opt": {"type": "L1Loss", "loss_weight": 1, "reduction": "mean"},
            "pyramid_loss_weight": 1, "remove_pyramid_loss": 50000,
            "perceptual_opt": {"type": "PerceptualLoss", "layer_weights": {"conv1_2": 0.1, "conv2_2": 0.1,
                               "conv3_4": 1, "conv4_4": 1, "conv5_4": 1}, "vgg_type": "vgg19",
                               "use_input_norm": True, "perceptual_weight": 1.0, "style_weight": 50,
                               "range_norm": True, "criterion": "l1"},
            "gan_opt": {"type": "GANLoss", "gan_type": "wgan_softplus", "loss_weight": 0.1},
            "r1_reg_weight": 10,
            "gan_component_opt": {"type": "GANLoss", "gan_type": "vanilla", "real_label_val": 1.0,
                                  "fake_label_val": 0.0, "loss_weight": 1.0},
            "comp_style_weight": 200, "identity_weight": 10,
            "net_d_iters": 1, "net_d_init_iters": 0, "net_d_reg_every": 16,
        },
    }
    from basicsr.archs import build_network  # noqa: F401  (registers the archs)
    import gfpgan.archs  # noqa: F401
    import builtins
    import gfpgan.models.gfpgan_model as gm
    gm.int = lambda v: 1 if 0 < v < 1 else builtins.int(v)  # face_ratio int(size/512) = 0 below 512: use 1
    model = GFPGANModel(opt)
    if weights is not None:
        pairs = {"net_g": model.net_g, "net_d": model.net_d, "identity": model.network_identity,
                 "net_d_left_eye": model.net_d_left_eye, "net_d_right_eye": model.net_d_right_eye,
                 "net_d_mouth": model.net_d_mouth}
        for key, net in pairs.items():
            try:
                net.load_state_dict(weights[key], strict=True); loaded.append(key)
            except Exception as e:
                print(f"weights {key}: not loaded ({type(e).__name__})", file=sys.stderr)
        model.net_g_ema.load_state_dict(model.net_g.state_dict())
    lq, gt = batch(cfg["batch"], size)
    scale = size / 512
    boxes = {"left_eye": (150, 210, 230, 290), "right_eye": (282, 210, 362, 290), "mouth": (196, 330, 316, 450)}
    data = {"lq": lq, "gt": gt}
    for part, box in boxes.items():
        data[f"loc_{part}"] = torch.tensor([box], dtype=torch.float32).mul(scale).repeat(cfg["batch"], 1)
    it = int(cfg["iter"])
    def call():  # fed each time: optimize_parameters keeps graph-bearing tensors (e.g. gt after R1) on the model
        model.feed_data({k: v.clone() for k, v in data.items()})
        model.optimize_parameters(it)

print(json.dumps({"ready": True, "maxrss_after_build_mib": peak(), "maxrss_import_mib": base, "loaded": loaded}))
sys.stdout.flush()
for line in sys.stdin:
    request = json.loads(line)
    if request["cmd"] == "time":
        sync(); start = time.perf_counter(); call(); sync()
        reply = {"s": time.perf_counter() - start}
    elif request["cmd"] == "flops":
        from torch.utils.flop_counter import FlopCounterMode
        try:
            with FlopCounterMode(display=False) as counter:
                call()
            reply = {"flops": int(counter.get_total_flops())}
        except RuntimeError:
            reply = {"flops": None}
    else:
        reply = {"maxrss_mib": peak(), "loaded": loaded, **({"value": value["v"]} if "v" in value else {})}
    print(json.dumps(reply), flush=True)
"""


# ======================================================================================================================
# Driving workers


class Worker:
    """A worker process answering the JSON protocol; ``None`` python = our interpreter (scripts/benchmark.py)."""

    def __init__(self, mode: str, cfg: dict, reference_python: str | None = None) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": str(cfg["threads"]), "MKL_NUM_THREADS": str(cfg["threads"])}
        if reference_python is None:
            cmd = [
                sys.executable,
                str(REPO / "scripts" / "benchmark.py"),
                "--worker",
                mode,
                "--config",
                json.dumps(cfg),
            ]
            cwd = str(REPO)
        else:
            cmd = [reference_python, "-c", REFERENCE_WORKER, json.dumps(cfg), mode]
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
    (the network held in that dtype instead of autocast)."""
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
