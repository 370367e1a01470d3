"""``gfpgan-eval``: score a folder of restored faces with the paper's metrics and print the protocol with them.

    gfpgan-eval --restored results/restored_faces --gt datasets/celeba_test/hq --metrics lpips fid niqe deg psnr ssim \\
        --fid-stats experiments/pretrained_models/inception_FFHQ_512-f7b384ab.pth --json scores.json --csv scores.csv

Files are paired by name stem (``--suffix`` strips a suffix of restored names, e.g. ``_00``). No-reference metrics
(NIQE; FID against --fid-stats or --fid-ref) need no --gt. Every weight file has a flag for offline use.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from tqdm import tqdm

from gfpgan.metrics.compare import (
    contact_sheet,
    marks,
    perception_distortion_plot,
    render_table,
    save_png,
    worst_faces,
)
from gfpgan.metrics.fid import read_rgb
from gfpgan.metrics.report import TABLE_ORDER, collect, format_table, protocol_line, write_reports
from gfpgan.registry import METRICS, OptionError
from gfpgan.utils.errors import one_line, run_main
from gfpgan.utils.malloc import tune_malloc

__all__ = ["add_metric_arguments", "build_metrics", "main", "pair_files"]

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
        "kid": {
            "type": "kid",
            "ref_dir": args.fid_ref,
            "weights": args.fid_inception_weights,
            "batch_size": args.batch_size,
            "subsets": args.kid_subsets,
            "subset_size": args.kid_subset_size,
        },
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


def add_metric_arguments(p: argparse.ArgumentParser) -> None:
    """The metric options :func:`build_metrics` reads (all but ``--metrics``), for every command that scores images."""
    ref = p.add_mutually_exclusive_group()
    stats_help = "FID reference statistics: .npz (mu, sigma) or BasicSR .pth (mean, cov); paper: inception_FFHQ_512.pth"
    ref.add_argument("--fid-stats", help=stats_help)
    ref.add_argument("--fid-ref", help="FID reference folder (default without these two: the --gt images)")
    p.add_argument("--crop-border", type=int, default=0, help="pixels cropped at each edge (PSNR, SSIM, NIQE)")
    p.add_argument("--test-y-channel", action="store_true", help="PSNR/SSIM on MATLAB Y (BT.601) instead of RGB")
    p.add_argument("--lpips-net", choices=("vgg", "alex"), default="vgg", help="LPIPS backbone (default vgg)")
    p.add_argument("--deg-skip-below", type=float, help="leave pairs below this angle (degrees) out of the Deg mean")
    p.add_argument("--lpips-weights", help="file with a full lpips.LPIPS state dict (offline)")
    p.add_argument("--fid-inception-weights", help="pt_inception-2015-12-05-6726825d.pth (offline)")
    p.add_argument("--arcface-weights", help="arcface_resnet18.pth (offline)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--batch-size", type=int, default=16, help="FID/KID Inception batch size")
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
        choices=(*TABLE_ORDER, "kid"),
        help="default: all that the inputs allow and that can run here (the others are listed as skipped)",
    )
    p.add_argument("--suffix", default="", help="suffix of restored file stems to ignore when pairing")
    add_metric_arguments(p)
    p.add_argument("--json", type=Path, help="write protocol, summary and per-image values here")
    p.add_argument("--csv", type=Path, help="write per-image values here")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return p


def main(argv: list[str] | None = None) -> int:
    """``gfpgan-eval ...``: 0 on success, 2 for bad input, 1 when a score is not finite or the run fails (one line
    each; a traceback with --debug). ``argv`` None = run as the program (sys.argv), which also tunes the heap."""
    if argv is None:
        tune_malloc()  # numpy-heavy metrics on image-sized arrays: keep freed buffers (gfpgan/utils/malloc.py)
    args = _parser().parse_args(argv)
    return run_main(lambda: _main(args), debug=args.debug)


def _main(args: argparse.Namespace) -> int:
    chosen = args.metrics is not None
    names = args.metrics or (
        list(TABLE_ORDER) if args.gt else ["niqe"] + (["fid"] if args.fid_stats or args.fid_ref else [])
    )
    full_reference = [m for m in names if m in ("psnr", "ssim", "lpips", "deg")]
    if args.gt is None and full_reference:
        raise OptionError(f"{', '.join(full_reference)} need --gt (no-reference metrics: niqe, fid).")
    if args.gt is None and "fid" in names and not (args.fid_stats or args.fid_ref):
        raise OptionError("FID without --gt needs --fid-stats FILE or --fid-ref DIR.")
    if args.gt is None and "kid" in names and not args.fid_ref:
        raise OptionError("KID without --gt needs --fid-ref DIR (the reference folder).")

    methods = _method_names(args)
    if chosen:
        metrics, skipped = build_metrics(args), {}
    else:  # the default set: what can run here, and a line for each metric left out
        metrics, skipped = _build_available(args, names)
        for name, why in skipped.items():
            print(f"skipped {name}: {why}", file=sys.stderr)
        if not metrics:
            raise OptionError("no metric can run (see the lines above); choose them with --metrics.")
    results, all_failed = {}, {}
    for i, (method, folder) in enumerate(methods.items()):
        if i:  # the same protocol for every method: fresh metric objects from the same options
            metrics = {k: METRICS.build(metric_specs(args)[k], where=f"--metrics {k}", device=args.device)
                       for k in metrics}  # fmt: skip
        pairs = pair_files(folder, args.gt, args.suffix)
        result, failed = _score(pairs, metrics, method if len(methods) > 1 else "evaluate")
        all_failed.update(failed)
        results[method] = (folder, pairs, result)
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


def _score(pairs: list, metrics: dict, desc: str) -> tuple:
    """Score one folder's pairs with ``metrics``; a metric that cannot score an image is dropped (with its reason)."""
    needs_same_size = any(m in metrics for m in ("psnr", "ssim", "lpips"))
    mismatched, failed = [], {}
    for restored_path, gt_path in tqdm(pairs, desc=desc, unit="img", disable=not sys.stderr.isatty()):
        restored = read_rgb(restored_path)
        gt = read_rgb(gt_path) if gt_path is not None else None
        if gt is not None and needs_same_size and restored.shape != gt.shape:
            mismatched.append(f"{restored_path.name} {restored.shape[:2]} vs {gt_path.name} {gt.shape[:2]}")
            continue
        for name, metric in metrics.items():
            if name in failed:
                continue
            try:
                metric.update(restored, gt)
            except ValueError as e:  # e.g. NIQE on an image under 96 px: this metric only, the others go on
                failed[name] = f"{restored_path.name}: {one_line(e)}"
    if mismatched:
        raise OptionError(
            f"{len(mismatched)} image pair(s) differ in size (PSNR/SSIM/LPIPS need equal sizes): "
            + "; ".join(mismatched[:20])
        )
    for name, why in failed.items():
        print(f"not scored {name}: {why}", file=sys.stderr)
    scored = {k: m for k, m in metrics.items() if k not in failed}
    return collect(scored, [p.name for p, _ in pairs]), failed


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
