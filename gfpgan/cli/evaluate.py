"""``gfpgan-eval``: score a folder of restored faces with the paper's metrics and print the protocol with them.

    gfpgan-eval --restored results/restored_faces --gt datasets/celeba_test/hq --metrics lpips fid niqe deg psnr ssim \\
        --fid-stats experiments/pretrained_models/inception_FFHQ_512-f7b384ab.pth --json scores.json --csv scores.csv

    gfpgan-eval --protocol pmrf --restored out/pmrf out/gfpgan --gt celeba_test/hq --fid-ref ffhq512 --out report

Files are paired by name stem (``--suffix`` strips a suffix of restored names, e.g. ``_00``). No-reference metrics
(NIQE; FID against --fid-stats or --fid-ref) need no --gt. Every weight file has a flag for offline use.

At scale: each image is decoded once per pair for all metrics; pairs go in chunks of --batch-size (LPIPS, Deg, LMD
and the Inception features of FID/KID run batched; the Inception features are extracted once for FID and KID);
--device defaults to cuda when present. With --out (or --cache DIR) every per-image value and Inception feature is
cached as it is computed (gfpgan/metrics/cache.py), so an interrupted run resumes where it stopped ("resumed: N of
M pairs from cache"); --no-cache turns that off. --protocol {gfpgan,pmrf,codeformer} runs a published metric set
with its settings and prints the plan first (docs/metrics.md, "Protocol presets").
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gfpgan.metrics.cache import ScoreCache, feature_key, image_key, metric_key, pair_key
from gfpgan.metrics.compare import (
    contact_sheet,
    marks,
    perception_distortion_plot,
    render_table,
    save_png,
    worst_faces,
)
from gfpgan.metrics.fid import FEATURE_PROTOCOL, InceptionSetMetric, inception_features, read_rgb, weights_digest
from gfpgan.metrics.report import TABLE_ORDER, SetResult, collect, format_table, protocol_line, write_reports
from gfpgan.registry import METRICS, OptionError
from gfpgan.utils.errors import one_line, run_main
from gfpgan.utils.malloc import tune_malloc
from gfpgan.utils.weights import WeightsNotFoundError, get_weights_path

__all__ = ["PROTOCOLS", "add_metric_arguments", "build_metrics", "main", "pair_files", "resolve_device"]

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def _images(folder: Path, what: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise OptionError(f"{what} folder {folder} does not exist.")
    files = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_EXTENSIONS}
    if not files:
        raise OptionError(f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) in {what} folder {folder}.")
    return files


def pair_files(restored_dir: Path, gt_dir: Path | None, suffix: str = "") -> list[tuple[Path, Path | None]]:
    """(restored, gt) pairs matched by name stem; a clear error lists every unmatched name."""
    restored = _images(restored_dir, "--restored")
    if suffix:
        restored = {(k.removesuffix(suffix) if k.endswith(suffix) else k): v for k, v in restored.items()}
    if gt_dir is None:
        return [(path, None) for path in restored.values()]
    gt = _images(gt_dir, "--gt")
    only_restored, only_gt = sorted(set(restored) - set(gt)), sorted(set(gt) - set(restored))
    if only_restored or only_gt:
        parts = [f"{restored_dir} and {gt_dir} do not pair up by file name (stem)"]
        if only_restored:
            parts.append(f"{len(only_restored)} restored without GT: {', '.join(only_restored[:20])}")
        if only_gt:
            parts.append(f"{len(only_gt)} GT without restored: {', '.join(only_gt[:20])}")
        parts.append("use --suffix if restored names carry one (e.g. --suffix _00)")
        raise OptionError("; ".join(parts) + ".")
    return [(restored[k], gt[k]) for k in sorted(restored)]


def metric_specs(args: argparse.Namespace) -> dict[str, dict]:
    """The option block of every metric, from the command-line options."""
    return {
        "psnr": {"type": "psnr", "crop_border": args.crop_border, "test_y_channel": args.test_y_channel},
        "ssim": {"type": "ssim", "crop_border": args.crop_border, "test_y_channel": args.test_y_channel},
        "niqe": {"type": "niqe", "crop_border": args.crop_border, "variant": args.niqe_variant},
        "lpips": {"type": "lpips", "net": args.lpips_net, "weights": args.lpips_weights},
        "fid": {
            "type": "fid",
            "stats": args.fid_stats,
            "ref_dir": args.fid_ref,
            "weights": args.fid_inception_weights,
            "batch_size": args.batch_size,
        },
        "deg": {"type": "deg", "weights": args.arcface_weights, "skip_below_deg": args.deg_skip_below},
        "kid": {
            "type": "kid",
            "ref_dir": args.fid_ref,
            "weights": args.fid_inception_weights,
            "batch_size": args.batch_size,
            "subsets": args.kid_subsets,
            "subset_size": args.kid_subset_size,
        },
        "lmd": {"type": "lmd", "weights": args.lmd_weights, "batch_size": args.lmd_batch_size},
    }


def build_metrics(args: argparse.Namespace) -> dict[str, object]:
    """Metric objects for the requested names, from the command-line options."""
    specs = metric_specs(args)
    return {name: METRICS.build(specs[name], where=f"--metrics {name}", device=args.device) for name in args.metrics}


def _build_available(args: argparse.Namespace, names: list[str]) -> tuple[dict[str, object], dict[str, str]]:
    """Metrics chosen by default: build those that can run; the others, with why, in the second dict."""
    specs, metrics, skipped = metric_specs(args), {}, {}
    for name in names:
        try:
            metrics[name] = METRICS.build(specs[name], where=f"--metrics {name}", device=args.device)
        except Exception as e:  # e.g. weights not found offline: leave it out and say why
            skipped[name] = one_line(e)
    return metrics, skipped


def _lmd_weights_here(args: argparse.Namespace) -> str | None:
    """None when LMD's weights are at hand (given, or found locally: never downloaded for the default set), else why
    not, as one line."""
    try:
        get_weights_path("alignment_WFLW_4HG", local_path=args.lmd_weights, download=False)
    except WeightsNotFoundError as e:
        return f"{one_line(e)} (or pass --lmd-weights FILE, or ask for it with --metrics ... lmd)"
    return None


def resolve_device(value: str) -> str:
    """``auto``: cuda when a GPU is present, else cpu; anything else as given."""
    return ("cuda" if torch.cuda.is_available() else "cpu") if value == "auto" else value


def add_metric_arguments(p: argparse.ArgumentParser) -> None:
    """The metric options :func:`build_metrics` reads (all but ``--metrics``), for every command that scores images."""
    ref = p.add_mutually_exclusive_group()
    stats_help = "FID reference statistics: .npz (mu, sigma) or BasicSR .pth (mean, cov); paper: inception_FFHQ_512.pth"
    ref.add_argument("--fid-stats", help=stats_help)
    ref.add_argument("--fid-ref", help="FID reference folder (default without these two: the --gt images)")
    p.add_argument("--crop-border", type=int, default=0, help="pixels cropped at each edge (PSNR, SSIM, NIQE)")
    p.add_argument("--test-y-channel", action="store_true", help="PSNR/SSIM on MATLAB Y (BT.601) instead of RGB")
    p.add_argument("--lpips-net", choices=("vgg", "alex"), default="vgg", help="LPIPS backbone (default vgg)")
    p.add_argument(
        "--niqe-variant", choices=("matlab", "basicsr"), default="matlab", help="NIQE: MATLAB port or BasicSR's"
    )
    p.add_argument("--deg-skip-below", type=float, help="leave pairs below this angle (degrees) out of the Deg mean")
    p.add_argument("--lpips-weights", help="file with a full lpips.LPIPS state dict (offline)")
    p.add_argument("--fid-inception-weights", help="pt_inception-2015-12-05-6726825d.pth (offline)")
    p.add_argument("--arcface-weights", help="arcface_resnet18.pth (offline)")
    p.add_argument("--lmd-weights", help="alignment_WFLW_4HG.pth, facexlib's AWing FAN (offline)")
    p.add_argument("--lmd-batch-size", type=int, default=8, help="LMD: image pairs per FAN forward")
    p.add_argument("--device", default="auto", type=resolve_device, help="auto (cuda when present), cpu, cuda:1, ...")
    p.add_argument("--batch-size", type=int, default=16, help="Inception batch size; gfpgan-eval: pairs per chunk")
    p.add_argument("--kid-subsets", type=int, default=100, help="KID: number of random subsets (torch-fidelity's)")
    p.add_argument("--kid-subset-size", type=int, default=1000, help="KID: subset size (clipped to the set size)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gfpgan-eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--restored", required=True, type=Path, nargs="+", help="folder(s) of restored images: one per method"
    )
    p.add_argument("--names", nargs="+", help="method names, one per --restored folder (default: folder names)")
    p.add_argument("--lq", type=Path, help="the degraded inputs (same names): the contact sheet's first column")
    p.add_argument("--out", type=Path, help="write the table (md/csv/json/tex), per-method scores and pictures here")
    p.add_argument("--sheet-faces", nargs="+", help="faces (names) on the contact sheet; default: the worst ones")
    p.add_argument("--sheet-count", type=int, default=8, help="faces on the contact sheet when not named")
    p.add_argument("--worst-k", type=int, default=5, help="worst faces listed per metric and method in table.json")
    p.add_argument("--gt", type=Path, help="folder of ground-truth images (same names)")
    p.add_argument(
        "--metrics",
        nargs="+",
        choices=(*TABLE_ORDER, "kid", "lmd"),
        help="default: all that the inputs allow and that can run here (the others are listed as skipped); lmd only "
        "when its weights are at hand",
    )
    p.add_argument(
        "--protocol",
        choices=sorted(PROTOCOLS),
        help="a published metric set with its settings (printed before scoring); not with --metrics",
    )
    p.add_argument("--suffix", default="", help="suffix of restored file stems to ignore when pairing")
    add_metric_arguments(p)
    p.add_argument("--cache", type=Path, help="per-image cache folder for resuming (default with --out: OUT/cache)")
    p.add_argument("--no-cache", action="store_true", help="compute everything, cache nothing")
    p.add_argument("--log-every-s", type=float, default=30.0, help="progress line period when stderr is not a tty")
    p.add_argument("--json", type=Path, help="write protocol, summary and per-image values here")
    p.add_argument("--csv", type=Path, help="write per-image values here")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return p


# ----------------------------------------------------------------------------------------------------------------------
# Protocol presets: the metric set and settings of a published table. Each setting says where it comes from; what
# could not be checked against the authors' code is marked unverified (printed with the plan, and in docs/metrics.md).

FFHQ_512_STATS = "inception_FFHQ_512-f7b384ab"  # BasicSR's FFHQ-512 Inception statistics (weights registry)


@dataclass(frozen=True)
class Preset:
    """A published protocol: ``metrics`` in table order, ``settings`` (argparse dest -> value) it fixes, ``notes``
    (metric -> where its settings come from, and what is unverified or differs), ``not_run`` (columns we lack)."""

    title: str
    source: str
    metrics: tuple[str, ...]
    settings: dict[str, object]
    notes: dict[str, str] = field(default_factory=dict)
    not_run: str = ""
    fid_reference: str = "stats"  # "stats": FFHQ_512_STATS (or --fid-stats with that file name); "folder": --fid-ref


PROTOCOLS: dict[str, Preset] = {
    # GFP-GAN, Wang et al. CVPR 2021, Table 1 (CelebA-Test): LPIPS, FID, NIQE, Deg, PSNR, SSIM (the columns of
    # scripts/reproduce_table.py). The GFPGAN repository publishes no metric scripts: settings follow the authors'
    # toolbox (xinntao/BasicSR scripts/metrics: calculate_psnr_ssim.py, calculate_niqe.py, calculate_fid_folder.py with
    # inception_FFHQ_512) and their lab's later scripts (TencentARC/VQFR metric_paper/); unverified for the paper.
    "gfpgan": Preset(
        title="GFP-GAN (Wang et al., CVPR 2021), Table 1 (CelebA-Test)",
        source="metric set: the paper's Table 1; settings: xinntao/BasicSR scripts/metrics, TencentARC/VQFR "
        "metric_paper (unverified for the paper)",
        metrics=("lpips", "fid", "niqe", "deg", "psnr", "ssim"),
        settings={
            "lpips_net": "vgg",
            "crop_border": 0,
            "test_y_channel": False,
            "niqe_variant": "basicsr",
            "deg_skip_below": None,
        },  # fmt: skip
        notes={
            "lpips": "net vgg as VQFR metric_paper/calculate_lpips.py (unverified for GFP-GAN's table)",
            "fid": "vs BasicSR's inception_FFHQ_512 statistics (BasicSR calculate_fid_folder.py default; unverified "
            "for the paper)",
            "niqe": "BasicSR calculate_niqe, Y channel, crop 0 (unverified for the paper)",
            "deg": "ArcFace angle, arcface_resnet18 (GFP-GAN's identity network), every pair (unverified)",
            "psnr": "RGB, crop 0, as GFPGAN options/train_gfpgan_v1.yml val metrics (unverified for the table)",
            "ssim": "RGB, crop 0, as GFPGAN options/train_gfpgan_v1.yml val metrics (unverified for the table)",
        },
    ),
    # PMRF, Ohayon et al. ICLR 2025: ohayonguy/PMRF evaluation/compute_metrics_blind.py (verified by reading it).
    "pmrf": Preset(
        title="PMRF (Ohayon et al., ICLR 2025), blind face restoration tables",
        source="ohayonguy/PMRF evaluation/compute_metrics_blind.py (+ calculate_*.py next to it)",
        metrics=("lpips", "fid", "kid", "niqe", "deg", "lmd", "psnr", "ssim"),
        settings={
            "lpips_net": "vgg",
            "crop_border": 0,
            "test_y_channel": False,
            "niqe_variant": "basicsr",
            "deg_skip_below": 1.0,
            "kid_subsets": 100,
            "kid_subset_size": 1000,
        },  # fmt: skip
        notes={
            "lpips": "lpips.LPIPS(net='vgg'), RGB in [-1,1], mean over images (calculate_lpips.py)",
            "fid": "torch-fidelity vs the FFHQ-512 folder (all of it); ours: the same Inception weights through "
            "pytorch-fid's graph and resize; torch-fidelity resizes its own way: small differences, unmeasured",
            "kid": "torch-fidelity, 100 subsets of min(1000, N), cubic kernel, vs the FFHQ-512 folder",
            "niqe": "BasicSR calculate_niqe, crop 0, Y channel (calculate_niqe.py)",
            "deg": "ArcFace angle, pairs under 1 degree left out (calculate_cos_dist.py from VQFR); PMRF's network is "
            "arcface-pytorch resnet_face18 resnet18_110.pth on cv2 gray/cv2.resize 128 input; ours: arcface_resnet18 "
            "on the identity-loss input: not the same numbers (unverified how far)",
            "lmd": "VQFR calculate_landmark_distance.py (AWing FAN, 98 landmarks): ours follows it",
            "psnr": "BasicSR calculate_psnr_pt, crop 0, RGB (test_y_channel False)",
            "ssim": "BasicSR calculate_ssim_pt, crop 0, RGB (test_y_channel False)",
        },
        not_run="IS, precision/recall (torch-fidelity isc/prc), MSE, IndRMSE: not implemented here",
        fid_reference="folder",
    ),
    # CodeFormer, Zhou et al. NeurIPS 2022, Table 1 (CelebA-Test). sczhou/CodeFormer publishes no metric scripts;
    # the metric set is LPIPS, FID, IDS (= Deg), LMD, PSNR, SSIM as far as we could check (paper text and benchmark
    # listings), settings follow TencentARC/VQFR metric_paper/ (where its LMD comes from); all unverified.
    "codeformer": Preset(
        title="CodeFormer (Zhou et al., NeurIPS 2022), Table 1 (CelebA-Test)",
        source="metric set: the paper's Table 1 (LPIPS, FID, IDS=Deg, LMD, PSNR, SSIM); settings: TencentARC/VQFR "
        "metric_paper (CodeFormer publishes no metric scripts): unverified",
        metrics=("lpips", "fid", "deg", "lmd", "psnr", "ssim"),
        settings={"lpips_net": "vgg", "crop_border": 0, "test_y_channel": False, "deg_skip_below": 1.0},
        notes={
            "lpips": "net vgg as VQFR calculate_lpips.py (unverified for CodeFormer)",
            "fid": "vs inception_FFHQ_512 as VQFR calculate_fid_folder.py (unverified for CodeFormer)",
            "deg": "IDS: ArcFace angle, pairs under 1 degree left out as VQFR calculate_cos_dist.py (network and "
            "input differ as for --protocol pmrf; unverified)",
            "lmd": "VQFR calculate_landmark_distance.py (unverified that CodeFormer used it unchanged)",
            "psnr": "RGB, crop 0 (VQFR calculate_psnr_ssim.py default; VQFR's mean/variance correction of the "
            "restored image is not reproduced); unverified for CodeFormer",
            "ssim": "RGB, crop 0, as PSNR; unverified for CodeFormer",
        },
        not_run="the table's no-reference column (MUSIQ in our reading of the paper; unverified): not implemented here",
    ),
}

# Options a preset leaves to the user: where files are, where to run, how much at once.
_FREE_OPTIONS = {"restored", "names", "lq", "out", "sheet_faces", "sheet_count", "worst_k", "gt", "suffix", "json",
                 "csv", "debug", "cache", "no_cache", "log_every_s", "device", "batch_size", "lmd_batch_size",
                 "lpips_weights", "fid_inception_weights", "arcface_weights", "lmd_weights", "protocol"}  # fmt: skip


def _explicit_options(argv: list[str]) -> dict[str, object]:
    """The options given on the command line (dest -> value), without the defaults."""
    p = _parser()
    for action in p._actions:  # argparse's documented idiom has no public accessor: defaults suppressed
        action.default = argparse.SUPPRESS
        action.required = False
    return vars(p.parse_known_args(argv)[0])


def _apply_protocol(args: argparse.Namespace, explicit: dict[str, object]) -> tuple[list[str], dict[str, str]]:
    """Set ``args`` to the preset's settings; return its metrics and those it cannot run (name -> one-line hint).

    An explicit option that contradicts the preset is refused (one line): a protocol's numbers are only comparable
    when every setting is the published one. The same value is accepted silently.
    """
    preset, name = PROTOCOLS[args.protocol], args.protocol
    if "metrics" in explicit:
        raise OptionError(f"--protocol {name} runs {', '.join(preset.metrics)}; drop --metrics (or --protocol).")
    for dest, value in explicit.items():
        if dest in _FREE_OPTIONS or dest in ("fid_stats", "fid_ref"):
            continue
        flag = "--" + dest.replace("_", "-")
        if dest not in preset.settings:
            raise OptionError(f"--protocol {name} does not use {flag} (it runs {', '.join(preset.metrics)}); drop it.")
        fixed = preset.settings[dest]
        if value != fixed:
            shown = "unset" if fixed is None else fixed
            raise OptionError(
                f"--protocol {name} fixes {flag} = {shown} (you gave {value}); drop {flag} or run without --protocol."
            )
    for dest, value in preset.settings.items():
        setattr(args, dest, value)
    skipped: dict[str, str] = {}
    if preset.fid_reference == "folder":
        if args.fid_stats is not None:
            raise OptionError(f"--protocol {name} compares with a folder (--fid-ref DIR): drop --fid-stats.")
        if args.fid_ref is None:
            hint = (f"--protocol {name}: FID/KID compare with FFHQ at 512 px: pass --fid-ref DIR, the folder of the "
                    "70,000 FFHQ images at 512x512 (PMRF's <parent_ffhq_512_path>/ffhq512)")  # fmt: skip
            skipped.update({m: hint for m in ("fid", "kid") if m in preset.metrics})
    else:
        if args.fid_ref is not None:
            raise OptionError(f"--protocol {name} compares FID with {FFHQ_512_STATS}.pth: drop --fid-ref.")
        if args.fid_stats is not None and Path(args.fid_stats).stem != FFHQ_512_STATS:
            raise OptionError(
                f"--protocol {name} compares FID with {FFHQ_512_STATS}.pth, not {args.fid_stats}; drop --fid-stats "
                "(or give that file)."
            )
        if args.fid_stats is None and "fid" in preset.metrics:
            try:
                args.fid_stats = str(get_weights_path(FFHQ_512_STATS))
            except WeightsNotFoundError as e:
                skipped["fid"] = one_line(e)
    return list(preset.metrics), skipped


def _print_plan(args: argparse.Namespace, names: list[str], metrics: dict, skipped: dict[str, str]) -> None:
    """What ``--protocol`` runs: every metric with every option it is built with, where the settings come from, and
    for a metric that cannot run, the one-line hint."""
    preset, specs = PROTOCOLS[args.protocol], metric_specs(args)
    print(f"protocol {args.protocol}: {preset.title}")
    print(f"  source: {preset.source}")
    for name in names:
        options = ", ".join(f"{k}={v}" for k, v in specs[name].items() if k != "type")
        state = "runs" if name in metrics else f"SKIPPED: {skipped.get(name, 'cannot run')}"
        print(f"  {name:<5} {options}; device={args.device}")
        print(f"        from: {preset.notes.get(name, '-')}")
        print(f"        {state}")
    if preset.not_run:
        print(f"  not run: {preset.not_run}")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """``gfpgan-eval ...``: 0 on success, 2 for bad input, 1 when a score is not finite or the run fails (one line
    each; a traceback with --debug). ``argv`` None = run as the program (sys.argv), which also tunes the heap."""
    if argv is None:
        tune_malloc()  # numpy-heavy metrics on image-sized arrays: keep freed buffers (gfpgan/utils/malloc.py)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    return run_main(lambda: _main(args, argv), debug=args.debug)


def _main(args: argparse.Namespace, argv: list[str]) -> int:
    chosen = args.metrics is not None
    protocol_skipped: dict[str, str] = {}
    if args.protocol is not None:
        names, protocol_skipped = _apply_protocol(args, _explicit_options(argv))
    else:
        names = args.metrics or (
            [*TABLE_ORDER, "lmd"] if args.gt else ["niqe"] + (["fid"] if args.fid_stats or args.fid_ref else [])
        )
    full_reference = [m for m in names if m in ("psnr", "ssim", "lpips", "deg", "lmd")]
    if args.gt is None and full_reference:
        raise OptionError(f"{', '.join(full_reference)} need --gt (no-reference metrics: niqe, fid).")
    if args.gt is None and "fid" in names and not (args.fid_stats or args.fid_ref):
        raise OptionError("FID without --gt needs --fid-stats FILE or --fid-ref DIR.")
    if args.gt is None and "kid" in names and not args.fid_ref:
        raise OptionError("KID without --gt needs --fid-ref DIR (the reference folder).")

    methods = _method_names(args)
    paired = {method: pair_files(folder, args.gt, args.suffix) for method, folder in methods.items()}
    if chosen:
        metrics, skipped = build_metrics(args), {}
    else:  # the default set or a protocol: what can run here, and a line for each metric left out
        skipped = dict(protocol_skipped)
        if args.protocol is None and "lmd" in names and (why := _lmd_weights_here(args)):
            skipped["lmd"] = why  # the default set downloads nothing for LMD
        metrics, unavailable = _build_available(args, [n for n in names if n not in skipped])
        skipped.update(unavailable)
        if args.protocol is not None:
            _print_plan(args, names, metrics, skipped)
        for name, why in skipped.items():
            print(f"skipped {name}: {why}", file=sys.stderr)
        if not metrics:
            raise OptionError("no metric can run (see the lines above); choose them with --metrics.")
    cache_root = None if args.no_cache else (args.cache or (args.out / "cache" if args.out is not None else None))
    progress = _Progress(sum(len(p) for p in paired.values()), args.log_every_s)
    options = metric_specs(args)
    results, all_failed = {}, {}
    for i, (method, folder) in enumerate(methods.items()):
        if i:  # the same protocol for every method: the same metric objects, emptied
            for metric in metrics.values():
                metric.reset()
        pairs = paired[method]
        cache = ScoreCache(cache_root, method)
        result, failed = _score(pairs, metrics, options, cache, progress, method, args.batch_size)
        all_failed.update(failed)
        results[method] = (folder, pairs, result)
    progress.close()
    if not any(r.summary for _, _, r in results.values()):
        raise OptionError("no metric could score these images (see the lines above).")

    better = {k: m.better for k, m in metrics.items()}
    if len(methods) == 1:
        folder, pairs, result = next(iter(results.values()))
        print(format_table({folder.name or str(folder): result.summary}))
        print(protocol_line(result.protocols, len(pairs)))
        write_reports(result, args.json, args.csv, {"restored": str(folder), "gt": str(args.gt) if args.gt else None})
    else:
        print(render_table({m: r.summary for m, (_, _, r) in results.items()}, better))
        first = next(iter(results.values()))
        print(protocol_line(first[2].protocols, len(first[1])))
    if args.out is not None:
        _write_comparison(args, results, better)
    summary = {k: v for _, _, r in results.values() for k, v in r.summary.items()}
    if chosen and all_failed:
        return 2
    return 0 if all(math.isfinite(v) or v == math.inf for v in summary.values()) else 1


def _method_names(args: argparse.Namespace) -> dict[str, Path]:
    """``{method name: restored folder}``: --names, else the folder names (made unique)."""
    if args.names is not None and len(args.names) != len(args.restored):
        raise OptionError(f"--names: {len(args.names)} names for {len(args.restored)} --restored folders.")
    names = args.names or [p.name or str(p) for p in args.restored]
    if len(set(names)) != len(names):
        names = [str(p) for p in args.restored]
    return dict(zip(names, args.restored))


class _Progress:
    """Pairs scored over all methods: a tqdm bar with the rate (pairs/s) on a terminal, else a line on stderr every
    ``every_s`` seconds. Pairs taken from the cache are not counted, so the rate and time left are about the work."""

    def __init__(self, total: int, every_s: float) -> None:
        self.tty = sys.stderr.isatty()
        self.total, self.done, self.every_s = total, 0, every_s
        self.start = self.last = time.monotonic()
        self.bar = tqdm(total=total, desc="evaluate", unit="pair", disable=not self.tty, dynamic_ncols=True)

    def skip(self, n: int) -> None:
        """``n`` pairs need no work (all their values are cached)."""
        self.total -= n
        self.bar.total = self.total
        self.bar.refresh()

    def update(self, n: int, method: str) -> None:
        self.done += n
        self.bar.set_postfix_str(method, refresh=False)
        self.bar.update(n)
        now = time.monotonic()
        if not self.tty and now - self.last >= self.every_s:
            self.last = now
            print(f"evaluate: {self._status(now)} ({method})", file=sys.stderr, flush=True)

    def _status(self, now: float) -> str:
        rate = self.done / max(now - self.start, 1e-9)
        left = (self.total - self.done) / rate if rate > 0 else math.inf
        return f"{self.done}/{self.total} pairs, {rate:.2f} pairs/s, about {left / 60:.1f} min left"

    def close(self) -> None:
        self.bar.close()
        if not self.tty and self.done:
            elapsed = time.monotonic() - self.start
            print(f"evaluate: {self.done} pairs scored in {elapsed:.1f} s ({self.done / max(elapsed, 1e-9):.2f} "
                  "pairs/s)", file=sys.stderr)  # fmt: skip


# Metrics fed a whole chunk through update_batch: Deg's update runs one pair per forward. LPIPS and LMD batch inside
# update; FID/KID features are extracted here; PSNR/SSIM/NIQE are per-image numpy (MATLAB-exact) computations.
BATCHED = ("deg",)


def _weights_sha256(options: dict) -> str | None:
    weights = options.get("weights")
    return weights_digest(weights) if weights and Path(weights).is_file() else None


def _to_batch(images: list[np.ndarray]) -> torch.Tensor:
    """(H,W,3) uint8 RGB images of one size -> (N,3,H,W) float32 in [0,1] RGB."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0


def _score(
    pairs: list, metrics: dict, options: dict, cache: ScoreCache, progress: _Progress, method: str, chunk_size: int
) -> tuple[SetResult, dict[str, str]]:
    """Score one folder's pairs with ``metrics``; a metric that cannot score an image is dropped (with its reason).

    Pairs go in chunks of ``chunk_size`` aligned to the pair index (a resumed run batches exactly as an uninterrupted
    one): each image of a chunk is decoded once for all metrics; per-image values missing from ``cache`` are computed
    and appended to it, one metric at a time; the Inception features of FID and KID are extracted once (per weights)
    and cached by image file. At the end every metric object holds every pair's value, in pair order.
    """
    n = len(pairs)
    pkeys = [pair_key(r, g) for r, g in pairs]
    per_pair = {k: m for k, m in metrics.items() if not isinstance(m, InceptionSetMetric)}
    keys = {k: metric_key(k, m.protocol(), options[k], _weights_sha256(options[k])) for k, m in per_pair.items()}
    values = {k: [cache.values(keys[k]).get(p) for p in pkeys] for k in per_pair}
    # Inception features, grouped by weights: one extraction for FID and KID; GT features only when GT is a reference
    groups: dict[str, dict] = {}
    for name, metric in metrics.items():
        if isinstance(metric, InceptionSetMetric):
            key = feature_key(FEATURE_PROTOCOL, weights_digest(metric.weights_path))
            group = groups.setdefault(key, {"metric": metric, "names": [], "gt": False})
            group["names"].append(name)
            group["gt"] |= metric.needs_gt
    for key, group in groups.items():
        cached = cache.features(key)
        group["restored"] = [cached.get(image_key(r)) for r, _ in pairs]
        group["gt_features"] = [cached.get(image_key(g)) for _, g in pairs] if group["gt"] else None

    def missing(i: int) -> bool:
        return any(v[i] is None for v in values.values()) or any(
            g["restored"][i] is None or (g["gt"] and g["gt_features"][i] is None) for g in groups.values()
        )

    todo = [i for i in range(n) if missing(i)]
    if cache.enabled:
        print(f"{method}: resumed: {n - len(todo)} of {n} pairs from cache ({cache.folder})", file=sys.stderr)
    progress.skip(n - len(todo))
    needs_same_size = any(m in metrics for m in ("psnr", "ssim", "lpips", "lmd", "deg"))
    mismatched, failed = [], {}
    todo_set = set(todo)
    for start in range(0, n, chunk_size):
        chunk = [i for i in range(start, min(n, start + chunk_size)) if i in todo_set]
        if not chunk:
            continue
        restored = {i: read_rgb(pairs[i][0]) for i in chunk}  # one decode per image, shared by every metric
        gt = {i: read_rgb(pairs[i][1]) if pairs[i][1] is not None else None for i in chunk}
        ok = []
        for i in chunk:
            if gt[i] is not None and needs_same_size and restored[i].shape != gt[i].shape:
                r, g = pairs[i]
                mismatched.append(f"{r.name} {restored[i].shape[:2]} vs {g.name} {gt[i].shape[:2]}")
            else:
                ok.append(i)
        for name, metric in per_pair.items():
            need = [i for i in ok if name not in failed and values[name][i] is None]
            if not need:
                continue
            before, current = len(metric.per_image), need[0]
            try:
                if name in BATCHED and len({restored[i].shape for i in need} | {gt[i].shape for i in need}) == 1:
                    metric.update_batch(_to_batch([restored[i] for i in need]), _to_batch([gt[i] for i in need]))
                else:
                    for current in need:
                        metric.update(restored[current], gt[current])
                new = metric.per_image[before:]
            except ValueError as e:  # e.g. NIQE on an image under 96 px: this metric only, the others go on
                failed[name] = f"{pairs[current][0].name}: {one_line(e)}"
                continue
            for i, value in zip(need, new, strict=True):
                values[name][i] = value
            cache.append(keys[name], [pkeys[i] for i in need], new)
        for key, group in groups.items():
            model, batch = group["metric"].model, group["metric"].batch_size
            sides = [("restored", restored, 0)] + ([("gt_features", gt, 1)] if group["gt"] else [])
            for side, images, column in sides:
                need = [i for i in ok if group[side][i] is None]
                if need:
                    features = inception_features([images[i] for i in need], model, batch, _model_device(model))
                    for i, f in zip(need, features):
                        group[side][i] = f
                    cache.save_features(key, [image_key(pairs[i][column]) for i in need], features)
        progress.update(len(chunk), method)
    if mismatched:
        raise OptionError(
            f"{len(mismatched)} image pair(s) differ in size (PSNR/SSIM/LPIPS/Deg/LMD need equal sizes): "
            + "; ".join(mismatched[:20])
        )
    for name, why in failed.items():
        print(f"not scored {name}: {why}", file=sys.stderr)
    for name, metric in per_pair.items():
        if name not in failed:
            metric.load_values(values[name])
    for group in groups.values():
        restored_features = np.stack(group["restored"]) if n else np.zeros((0, 2048))
        gt_features = np.stack(group["gt_features"]) if group["gt"] else None
        for name in group["names"]:
            metrics[name].load_features(restored_features, gt_features)
    scored = {k: m for k, m in metrics.items() if k not in failed}
    return collect(scored, [p.name for p, _ in pairs]), failed


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _write_comparison(args: argparse.Namespace, results: dict, better: dict) -> None:
    """--out DIR: the table (.md, .csv, .json, .tex), per-method JSON/CSV with the k worst faces per metric, a contact
    sheet (input | methods | GT) of the chosen or worst faces, and a perception-distortion plot."""
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    rows = {m: r.summary for m, (_, _, r) in results.items()}
    (out / "table.md").write_text(render_table(rows, better, "markdown"), encoding="utf-8")
    (out / "table.csv").write_text(render_table(rows, better, "csv"), encoding="utf-8")
    (out / "table.tex").write_text(render_table(rows, better, "latex"), encoding="utf-8")
    first = next(iter(results.values()))
    table = {
        "protocol": {"gt": str(args.gt) if args.gt else None, "num_images": len(first[1]),
                     "metrics": first[2].protocols, "better": better},
        "methods": {m: {"restored": str(folder), "summary": r.summary,
                        "worst": worst_faces(r.per_image, better, args.worst_k)}
                    for m, (folder, _, r) in results.items()},
        "marks": marks(rows, better),
    }  # fmt: skip
    (out / "table.json").write_text(json.dumps(table, indent=1, default=str), encoding="utf-8")
    for method, (folder, _, result) in results.items():
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in method)
        write_reports(result, out / f"{stem}.json", out / f"{stem}.csv", {"restored": str(folder)})

    # Contact sheet: --sheet-faces names, else the worst faces of the first method on its first metric. Rows are keyed
    # by the pairing name (the GT stem; restored names may carry --suffix).
    def keyed(pairs: list) -> dict[str, Path]:
        return {(g.stem if g is not None else Path(r.stem).stem.removesuffix(args.suffix)): r for r, g in pairs}

    method, (_, pairs, result) = next(iter(results.items()))
    first = keyed(pairs)
    if args.sheet_faces:
        wanted = {Path(f).stem for f in args.sheet_faces}
        keys = [k for k, r in first.items() if k in wanted or r.stem in wanted]
    else:
        metric = next(iter(result.summary), None)
        ranked = worst_faces(result.per_image, better, args.sheet_count).get(metric, []) if metric else []
        by_file = {r.name: k for k, r in first.items()}
        keys = [by_file[w["file"]] for w in ranked] or list(first)[: args.sheet_count]
    columns, scores = {}, {}
    if args.lq is not None:
        columns["input"] = {k: read_rgb(p) for k in keys if (p := _find(args.lq, k))}
    for m, (_, method_pairs, r) in results.items():
        paths = keyed(method_pairs)
        columns[m] = {k: read_rgb(paths[k]) for k in keys if k in paths}
        scores[m] = {k: r.per_image.get(paths[k].name, {}) for k in keys if k in paths}
    if args.gt is not None:
        columns["GT"] = {k: read_rgb(p) for k in keys if (p := _find(args.gt, k))}
    save_png(out / "contact_sheet.png", contact_sheet(keys, columns, scores))

    # Perception-distortion plot: a distortion metric against a perceptual one, when both were scored.
    available = set.intersection(*(set(r.summary) for _, _, r in results.values()))
    x = next((m for m in ("psnr", "lpips", "ssim") if m in available), None)
    y = next((m for m in ("fid", "kid", "niqe", "lpips") if m in available and m != x), None)
    if x and y:
        save_png(out / "perception_distortion.png", perception_distortion_plot(rows, x, y, better))
    else:
        print("no perception-distortion plot: it needs a distortion and a perceptual metric", file=sys.stderr)
    print(f"wrote the table (md, csv, json, tex), per-method scores and pictures to {out}", file=sys.stderr)


def _find(folder: Path, stem: str) -> Path | None:
    for ext in sorted(IMAGE_EXTENSIONS):
        for candidate in (folder / f"{stem}{ext}", folder / f"{stem}{ext.upper()}"):
            if candidate.is_file():
                return candidate
    return None


if __name__ == "__main__":
    sys.exit(main())
