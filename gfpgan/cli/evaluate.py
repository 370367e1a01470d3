"""``gfpgan-eval``: score a folder of restored faces with the paper's metrics and print the protocol with them.

    gfpgan-eval --restored results/restored_faces --gt datasets/celeba_test/hq --metrics lpips fid niqe deg psnr ssim \\
        --fid-stats experiments/pretrained_models/inception_FFHQ_512-f7b384ab.pth --json scores.json --csv scores.csv

Files are paired by name stem (``--suffix`` strips a suffix of restored names, e.g. ``_00``). No-reference metrics
(NIQE; FID against --fid-stats or --fid-ref) need no --gt. Every weight file has a flag for offline use.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

from tqdm import tqdm

from gfpgan.metrics.base import finite_or_str
from gfpgan.metrics.fid import read_rgb
from gfpgan.registry import METRICS

__all__ = ["build_metrics", "main", "pair_files"]

TABLE_ORDER = ("lpips", "fid", "niqe", "deg", "psnr", "ssim")  # the column order of the paper's Table 1
DECIMALS = {"lpips": 4, "fid": 2, "niqe": 3, "deg": 2, "psnr": 2, "ssim": 4}
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def _images(folder: Path, what: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise SystemExit(f"error: {what} folder {folder} does not exist.")
    files = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_EXTENSIONS}
    if not files:
        raise SystemExit(f"error: no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) in {what} folder {folder}.")
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
        lines = [f"error: {restored_dir} and {gt_dir} do not pair up by file name (stem)."]
        if only_restored:
            lines.append(f"  {len(only_restored)} restored without GT: {', '.join(only_restored[:20])}")
        if only_gt:
            lines.append(f"  {len(only_gt)} GT without restored: {', '.join(only_gt[:20])}")
        lines.append("  Use --suffix if restored names carry one (e.g. --suffix _00).")
        raise SystemExit("\n".join(lines))
    return [(restored[k], gt[k]) for k in sorted(restored)]


def build_metrics(args: argparse.Namespace) -> dict[str, object]:
    """Metric objects for the requested names, from the command-line options."""
    specs = {
        "psnr": {"type": "psnr", "crop_border": args.crop_border, "test_y_channel": args.test_y_channel},
        "ssim": {"type": "ssim", "crop_border": args.crop_border, "test_y_channel": args.test_y_channel},
        "niqe": {"type": "niqe", "crop_border": args.crop_border},
        "lpips": {"type": "lpips", "net": args.lpips_net, "weights": args.lpips_weights},
        "fid": {
            "type": "fid",
            "stats": args.fid_stats,
            "ref_dir": args.fid_ref,
            "weights": args.fid_inception_weights,
            "batch_size": args.batch_size,
        },
        "deg": {"type": "deg", "weights": args.arcface_weights, "skip_below_deg": args.deg_skip_below},
    }
    return {name: METRICS.build(specs[name], where=f"--metrics {name}", device=args.device) for name in args.metrics}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gfpgan-eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--restored", required=True, type=Path, help="folder of restored images")
    p.add_argument("--gt", type=Path, help="folder of ground-truth images (same names)")
    p.add_argument("--metrics", nargs="+", choices=TABLE_ORDER, help="default: all that the inputs allow")
    ref = p.add_mutually_exclusive_group()
    ref.add_argument("--fid-stats", help="FID reference statistics: .npz (mu, sigma) or BasicSR .pth (mean, cov)")
    ref.add_argument("--fid-ref", help="FID reference folder (default without these two: the --gt images)")
    p.add_argument("--crop-border", type=int, default=0, help="pixels cropped at each edge (PSNR, SSIM, NIQE)")
    p.add_argument("--test-y-channel", action="store_true", help="PSNR/SSIM on MATLAB Y (BT.601) instead of RGB")
    p.add_argument("--lpips-net", choices=("vgg", "alex"), default="vgg", help="LPIPS backbone (default vgg)")
    p.add_argument("--deg-skip-below", type=float, help="leave pairs below this angle (degrees) out of the Deg mean")
    p.add_argument("--suffix", default="", help="suffix of restored file stems to ignore when pairing")
    p.add_argument("--lpips-weights", help="file with a full lpips.LPIPS state dict (offline)")
    p.add_argument("--fid-inception-weights", help="pt_inception-2015-12-05-6726825d.pth (offline)")
    p.add_argument("--arcface-weights", help="arcface_resnet18.pth (offline)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--batch-size", type=int, default=16, help="FID Inception batch size")
    p.add_argument("--json", type=Path, help="write protocol, summary and per-image values here")
    p.add_argument("--csv", type=Path, help="write per-image values here")
    return p


def _format_table(summary: dict[str, float], label: str) -> str:
    names = [m for m in TABLE_ORDER if m in summary]
    width = max(len(label), 8)
    header = " " * width + "".join(f"{m.upper() if m != 'deg' else 'Deg':>10}" for m in names)
    row = f"{label:<{width}}" + "".join(f"{summary[m]:>10.{DECIMALS[m]}f}" for m in names)
    return f"{header}\n{row}"


def _protocol_line(protocols: dict[str, dict]) -> str:
    parts = []
    for name in TABLE_ORDER:
        if name in protocols:
            details = ", ".join(f"{k}={v}" for k, v in protocols[name].items() if k != "metric")
            parts.append(f"{name}: {details}")
    return "protocol: " + " | ".join(parts)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.metrics is None:
        args.metrics = list(TABLE_ORDER) if args.gt else ["niqe"] + (["fid"] if args.fid_stats or args.fid_ref else [])
    full_reference = [m for m in args.metrics if m in ("psnr", "ssim", "lpips", "deg")]
    if args.gt is None and full_reference:
        raise SystemExit(f"error: {', '.join(full_reference)} need --gt (no-reference metrics: niqe, fid).")
    if args.gt is None and "fid" in args.metrics and not (args.fid_stats or args.fid_ref):
        raise SystemExit("error: FID without --gt needs --fid-stats FILE or --fid-ref DIR.")

    pairs = pair_files(args.restored, args.gt, args.suffix)
    metrics = build_metrics(args)
    needs_same_size = any(m in metrics for m in ("psnr", "ssim", "lpips"))
    mismatched = []
    for restored_path, gt_path in tqdm(pairs, desc="evaluate", unit="img"):
        restored = read_rgb(restored_path)
        gt = read_rgb(gt_path) if gt_path is not None else None
        if gt is not None and needs_same_size and restored.shape != gt.shape:
            mismatched.append(f"{restored_path.name} {restored.shape[:2]} vs {gt_path.name} {gt.shape[:2]}")
            continue
        for metric in metrics.values():
            metric.update(restored, gt)
    if mismatched:
        raise SystemExit(
            f"error: {len(mismatched)} image pair(s) differ in size (PSNR/SSIM/LPIPS need equal sizes):\n  "
            + "\n  ".join(mismatched[:20])
        )

    summary = {name: metric.compute() for name, metric in metrics.items()}
    protocols = {name: metric.protocol() for name, metric in metrics.items()}
    names = [p.name for p, _ in pairs]
    per_image: dict[str, dict[str, float]] = {name: {} for name in names}
    for metric_name, metric in metrics.items():
        for file_name, value in zip(names, metric.per_image):
            per_image[file_name][metric_name] = value

    print(_format_table(summary, args.restored.name or str(args.restored)))
    print(_protocol_line(protocols) + f" | N={len(pairs)}")

    if args.csv:
        columns = [m for m in TABLE_ORDER if m in metrics and metrics[m].per_image]
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        with open(args.csv, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["file", *columns])
            for file_name in names:
                writer.writerow([file_name, *(repr(per_image[file_name][m]) for m in columns)])
    if args.json:
        report = {
            "protocol": {
                "restored": str(args.restored),
                "gt": str(args.gt) if args.gt else None,
                "num_images": len(pairs),
                "metrics": protocols,
            },
            "summary": {k: finite_or_str(v) for k, v in summary.items()},
            "per_image": {f: {k: finite_or_str(v) for k, v in vals.items()} for f, vals in per_image.items()},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    return 0 if all(math.isfinite(v) or v == math.inf for v in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
