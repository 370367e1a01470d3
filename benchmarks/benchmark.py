"""GFP-GAN benchmarks: training iteration, generator inference, data loading and metrics; ours vs the reference.

    python benchmarks/benchmark.py train   --out-size 128 --batch 1 --variants float32 float32+cl bfloat16+cl
    python benchmarks/benchmark.py stylegan2 --out-size 256 --batch 2 --variants float32    # the prior's iteration
    python benchmarks/benchmark.py infer   --out-size 512 --batch 1 16 --faces 1 4
    python benchmarks/benchmark.py data    --samples 32
    python benchmarks/benchmark.py metrics --out-size 512 --images 4
    python benchmarks/benchmark.py train --sizes 64 128 --batches 1 2   # the scaling table

Every configuration runs in fresh worker processes (peak memory = the worker's max RSS, or CUDA max allocated);
ours and the reference (``--reference-python``, default /tmp/refvenv/bin/python; skipped when missing or with
``--no-reference``) are timed interleaved, median of ``--repeats`` calls after ``--warmup``. The reference is always
float32 / contiguous (it has no other mode): each variant of ours is compared with it. ``--threads`` sets torch's
threads on both sides (default 1: on a shared machine more threads measure the neighbours). Prints one JSON object
and writes it to ``--json FILE``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402

import torch  # noqa: E402

from benchmarks import harness as bench  # noqa: E402

METRICS = ("psnr", "ssim", "niqe", "lpips", "fid", "deg", "lmd")


def _compare(ours: dict | None, ref: dict | None) -> dict:
    if not ours or not ref:
        return {}
    out = {"speedup_vs_reference": round(ref["median_s"] / ours["median_s"], 3)}
    out["memory_ratio_vs_reference"] = round(ours["maxrss_mib"] / ref["maxrss_mib"], 3)
    return out


def run_pairs(mode: str, base: dict, variants: list[str], args, with_reference: bool) -> list[dict]:
    """Each variant of ours against one float32 reference worker, all interleaved in one round."""
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="gfpgan_bench_"))
    weights = str(tmp / "weights.pth")
    specs = []
    for i, v in enumerate(variants):
        cfg = {**base, **bench.variant_cfg(v)}
        if i == 0:
            cfg["save_weights"] = weights
        specs.append((mode, cfg, None))
    reference = with_reference and os.path.isfile(args.reference_python)
    if with_reference and not reference:
        print(f"reference python {args.reference_python} not found: reference side skipped", file=sys.stderr)
    if reference:  # started last: our first worker has written the weights by then
        specs.append((mode, {**base, "dtype": "float32", "load_weights": weights}, args.reference_python))
    with bench.workers(specs) as ws:
        results = bench.measure(ws, args.warmup, args.repeats, flops=not args.no_flops)
    ref = results[-1] if reference else None
    if ref:
        bench.add_efficiency(ref, args.peaks, "float32")
    for v, res in zip(variants, results):
        bench.add_efficiency(res, args.peaks, bench.variant_cfg(v)["dtype"])
        rows.append({"side": "ours", "variant": v, **base, **res, **_compare(res, ref)})
    if ref:
        rows.append({"side": "reference", "variant": "float32", **base, **ref})
    for row in rows:
        row.pop("save_weights", None)
        row.pop("load_weights", None)
    return rows


def mode_train(args) -> list[dict]:
    rows = []
    sizes = args.sizes or [args.out_size]
    batches = args.batches or args.batch
    for size in sizes:
        for batch in batches:
            for it, label in ((1, "no_r1"), (16, "with_r1")):
                if label == "with_r1" and args.skip_r1:
                    continue
                base = dict(
                    out_size=size, batch=batch, channel_multiplier=args.channel_multiplier, narrow=args.narrow,
                    threads=args.threads, device=args.device, iter=it, r1=label,
                )  # fmt: skip
                print(f"train {size}px batch {batch} {label}", file=sys.stderr)
                rows += run_pairs("train", base, args.variants, args, not args.no_reference)
    # R1 runs once per 16 iterations: amortised time = (15 * no_r1 + with_r1) / 16
    for row in [r for r in rows if r["r1"] == "no_r1"]:
        twin = [
            r
            for r in rows
            if r["r1"] == "with_r1"
            and (r["side"], r["variant"], r["out_size"], r["batch"])
            == (row["side"], row["variant"], row["out_size"], row["batch"])
        ]
        if twin:
            row["amortised_r1_median_s"] = round((15 * row["median_s"] + twin[0]["median_s"]) / 16, 4)
    return rows


def mode_stylegan2(args) -> list[dict]:
    """One StyleGAN2 iteration (D + G + EMA), ours against BasicSR's StyleGAN2Model, with and without the lazy
    regularisers (iteration 16: R1 and path length; iteration 1: neither), amortised as training runs them."""
    rows = []
    for size in args.sizes or [args.out_size]:
        for batch in args.batch:
            for it, label in ((1, "no_reg"), (16, "with_r1_and_path")):
                base = dict(out_size=size, batch=batch, channel_multiplier=args.channel_multiplier, iter=it,
                            narrow=args.narrow, threads=args.threads, device=args.device, reg=label)  # fmt: skip
                print(f"stylegan2 {size}px batch {batch} {label}", file=sys.stderr)
                rows += run_pairs("stylegan2", base, args.variants, args, not args.no_reference)
    # Path length every 4 iterations, R1 every 16: amortised = (12 * none + 3 * path only + 1 * both) / 16, with
    # path-only approximated by "both" (an upper bound for both sides alike).
    for row in [r for r in rows if r["reg"] == "no_reg"]:
        twin = [r for r in rows if r["reg"] != "no_reg" and (r["side"], r["variant"], r["out_size"], r["batch"])
                == (row["side"], row["variant"], row["out_size"], row["batch"])]  # fmt: skip
        if twin:
            row["amortised_median_s"] = round((12 * row["median_s"] + 4 * twin[0]["median_s"]) / 16, 4)
    return rows


def mode_infer(args) -> list[dict]:
    rows = []
    for size in args.sizes or [args.out_size]:
        for batch in args.batch:
            base = dict(
                out_size=size, batch=batch, channel_multiplier=args.channel_multiplier, narrow=args.narrow,
                threads=args.threads, device=args.device,
            )  # fmt: skip
            print(f"infer {size}px batch {batch}", file=sys.stderr)
            for row in run_pairs("infer", base, args.variants, args, not args.no_reference):
                row["faces_per_s"] = round(batch / row["median_s"], 4)
                rows.append(row)
        for faces in args.faces:
            for v in args.variants:
                cfg = dict(
                    out_size=size, faces=faces, channel_multiplier=args.channel_multiplier, narrow=args.narrow,
                    threads=args.threads, device=args.device, **bench.variant_cfg(v),
                )  # fmt: skip
                if cfg["compile"] or cfg["channels_last"]:
                    continue  # FaceRestorer has no such switches
                print(f"restore whole image {size}px x {faces} faces {v}", file=sys.stderr)
                with bench.workers([("restore", cfg, None)]) as ws:
                    (res,) = bench.measure(ws, args.warmup, args.repeats, flops=False)
                rows.append({"side": "ours", "kind": "whole_image", "variant": v, **cfg, **res})
    return rows


def mode_data(args) -> list[dict]:
    cmd = [sys.executable, str(Path(__file__).with_name("bench_data.py")), "--samples", str(args.samples)]
    cmd += ["--threads", str(args.threads), "--rounds", str(args.repeats), "--warmup", str(max(args.warmup, 2))]
    cmd += ["--no-reference"] if args.no_reference else ["--reference-python", args.reference_python]
    cmd += ["--workers", str(args.workers)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return [{"error": proc.stderr[-2000:]}]
    return [json.loads(proc.stdout.strip().splitlines()[-1])]


def mode_metrics(args) -> list[dict]:
    """Each metric over the same ``--images`` pairs: ours, and the reference computation (BasicSR's PSNR/SSIM/NIQE,
    the lpips package, pytorch-fid, gfpgan 1.3.8's ArcFace with its identity-loss input, facexlib's AWing FAN as the LMD
    scripts call it) on the same weight files,
    interleaved; with the two values, so that the harness also shows the numbers agree."""
    rows = []
    tmp = tempfile.mkdtemp(prefix="gfpgan_bench_metrics_")
    reference = not args.no_reference and os.path.isfile(args.reference_python)
    if not args.no_reference and not reference:
        print(f"reference python {args.reference_python} not found: reference side skipped", file=sys.stderr)
    for name in args.metrics:
        cfg = dict(metric=name, out_size=args.out_size, images=args.images, threads=args.threads, device=args.device)
        cfg["tmp"] = tmp
        print(f"metric {name}", file=sys.stderr)
        specs = [("metric", cfg, None)] + ([("metric", cfg, args.reference_python)] if reference else [])
        try:
            with bench.workers(specs) as ws:  # ours first: it writes the seeded weight files the reference loads
                results = bench.measure(ws, args.warmup, args.repeats, flops=not args.no_flops)
        except RuntimeError as e:
            rows.append({"metric": name, "error": str(e)[-600:]})
            continue
        cfg.pop("tmp")
        for side, res in zip(("ours", "reference"), results):
            if res is None:
                continue
            res["images_per_s"] = round(args.images / res["median_s"], 3)
            bench.add_efficiency(res, args.peaks, "float32")
            row = {"side": side, **cfg, **res}
            if side == "ours" and len(results) > 1:
                row.update(_compare(res, results[1]))
                if results[1] and "value" in res and "value" in results[1]:
                    row["abs_value_difference"] = abs(res["value"] - results[1]["value"])
            rows.append(row)
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", nargs="?", choices=["train", "stylegan2", "infer", "data", "metrics"])
    p.add_argument("--out-size", type=int, default=None, help="face size (train 128, infer/metrics 512 by default)")
    p.add_argument("--sizes", type=int, nargs="+", help="sweep these out sizes instead of --out-size")
    p.add_argument("--batch", type=int, nargs="+", default=None, help="batch sizes (train 1; infer 1 16)")
    p.add_argument("--batches", type=int, nargs="+", help="train: sweep batch sizes (alias of --batch)")
    p.add_argument("--channel-multiplier", type=int, default=None, help="train 1 (paper), infer 2 (v1.3/v1.4)")
    p.add_argument("--narrow", type=float, default=1.0)
    p.add_argument("--faces", type=int, nargs="*", default=None, help="infer: whole-image restoration, N faces")
    p.add_argument("--variants", nargs="+", default=None, help="DTYPE[+cl][+compile]; default float32 float32+cl "
                   "bfloat16+cl")  # fmt: skip
    p.add_argument("--metrics", nargs="+", default=list(METRICS), choices=METRICS)
    p.add_argument("--images", type=int, default=4, help="metrics: images per timed call")
    p.add_argument("--samples", type=int, default=32, help="data: timed samples per side")
    p.add_argument("--workers", type=int, default=0, help="data: 0 = one worker's work in-process; N = a DataLoader "
                   "with N workers")  # fmt: skip
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--skip-r1", action="store_true", help="train: do not time the R1 iteration")
    p.add_argument("--no-flops", action="store_true")
    p.add_argument("--no-reference", action="store_true")
    p.add_argument("--reference-python", default="/tmp/refvenv/bin/python")
    p.add_argument("--json", type=Path, help="also write the JSON result here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--config", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker is None and args.mode is None:
        p.error("a mode is required: train, infer, data or metrics")
    train = args.mode in ("train", "stylegan2")
    args.out_size = args.out_size or (128 if train else 512)
    args.batch = args.batches or args.batch or ([1] if train else [1, 16])
    args.channel_multiplier = args.channel_multiplier or (1 if train else 2)
    args.faces = [1, 4] if args.faces is None else args.faces
    args.variants = args.variants or ["float32", "float32+cl", "bfloat16+cl"]
    for v in args.variants:
        bench.variant_cfg(v)  # fail early on a typo
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker is not None:
        bench.worker_main(args.worker, json.loads(args.config))
        return
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    args.peaks = {
        "float32": bench.matmul_peak(torch.float32, device),
        "bfloat16": bench.matmul_peak(torch.bfloat16, device),
    }
    modes = {"train": mode_train, "stylegan2": mode_stylegan2, "infer": mode_infer, "data": mode_data,
             "metrics": mode_metrics}  # fmt: skip
    rows = modes[args.mode](args)
    result = {
        "mode": args.mode,
        "env": bench.environment(args.threads),
        "matmul_peak_gflop_s": {k: round(v / 1e9, 1) for k, v in args.peaks.items()},
        "gpu": None if device.type == "cuda" else "not measured: no GPU",
        "warmup": args.warmup,
        "repeats": args.repeats,
        "rows": rows,
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
