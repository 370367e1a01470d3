"""Reproduce the layout of the paper's Table 1 (CelebA-Test) from a folder of HQ faces and a generator checkpoint.

1. Degrade: image i of the sorted HQ folder gets the paper's training degradation with default_rng([seed, 0, i]);
   PNGs and every sampled parameter (degradation_params.json) go to <out>/lq (reused when seed and settings match).
2. Restore: the checkpoint's generator (arch and shape inferred from its keys; params_ema, else params) restores
   the aligned faces directly, with its stored noise buffers (deterministic). Restored faces go to <out>/restored.
3. Evaluate: the degraded inputs and the restorations against the HQ faces, with gfpgan-eval's metric options;
   <out>/input.{json,csv} and <out>/ours.{json,csv} (gfpgan-eval layout) and <out>/table.txt.

    python scripts/reproduce_table.py --gt datasets/celeba_test/gt --device cuda \\
        --model-path experiments/pretrained_models/GFPGANv1.4.pth \\
        --fid-stats experiments/pretrained_models/inception_FFHQ_512-f7b384ab.pth
    python scripts/reproduce_table.py --gt HQ --model-path net_g.pth --metrics psnr ssim niqe   # no extra weights

The HQ faces must be aligned and of the generator's size (512 for the released models). The paper's rows are quoted
from the paper (spec/evaluation.md); its CelebA-Test images are not public, so "ours" is measured on your HQ set.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from gfpgan.cli.evaluate import add_metric_arguments, build_metrics  # noqa: E402
from gfpgan.data.degradations import DegradationSettings  # noqa: E402
from gfpgan.data.paired import PairedImageDataset  # noqa: E402
from gfpgan.data.testset import PARAMS_FILE, ensure_degraded_folder  # noqa: E402
from gfpgan.inference import load_generator  # noqa: E402
from gfpgan.metrics.report import TABLE_ORDER, format_table, protocol_line, write_reports  # noqa: E402
from gfpgan.options import OptionError  # noqa: E402
from gfpgan.test import USER_ERRORS, score_set  # noqa: E402
from gfpgan.utils.errors import run_main  # noqa: E402

# Table 1 of the paper (CelebA-Test, 3,000 faces at 512 px): LPIPS / FID / NIQE / Deg / PSNR / SSIM.
PAPER_TABLE_1 = {
    "Input": {"lpips": 0.4866, "fid": 143.98, "niqe": 13.440, "deg": 47.94, "psnr": 25.35, "ssim": 0.6848},
    "GFP-GAN": {"lpips": 0.3646, "fid": 42.62, "niqe": 4.077, "deg": 34.60, "psnr": 25.08, "ssim": 0.6777},
    "GT": {"lpips": 0.0, "fid": 43.43, "niqe": 4.292, "deg": 0.0, "psnr": math.inf, "ssim": 1.0},
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gt", required=True, type=Path, help="folder of aligned HQ faces (the generator's size)")
    p.add_argument("--model-path", required=True, type=Path, help="generator checkpoint (.pth)")
    p.add_argument("--out", type=Path, default=Path("results/reproduce_table"), help="work and output folder")
    p.add_argument("--seed", type=int, default=0, help="seed of the degradation (default 0)")
    p.add_argument("--arch", choices=("clean", "original", "bilinear"), help="default: inferred from the keys")
    p.add_argument("--restore-batch-size", type=int, default=4, help="faces per generator forward")
    p.add_argument("--metrics", nargs="+", choices=TABLE_ORDER, default=list(TABLE_ORDER), help="default: all six")
    add_metric_arguments(p)  # gfpgan-eval's metric options, under the same names (read by its build_metrics)
    return p


def _degraded_set(gt: Path, out: Path, seed: int) -> Path:
    """<out> with the degraded set of ``gt``: made once, reused only when its seed and settings are the ones asked."""
    settings = DegradationSettings()
    params = out / PARAMS_FILE
    if params.is_file():
        record = json.loads(params.read_text())
        wanted = json.loads(json.dumps(settings.to_dict()))
        if record.get("seed") != seed or record.get("settings") != wanted:
            raise OptionError(
                f"{out} holds a test set degraded with seed {record.get('seed')} and other settings; "
                f"delete it or pass another --out."
            )
        return out
    return ensure_degraded_folder(gt, out, seed, settings)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if not args.gt.is_dir():
        raise OptionError(f"--gt: {args.gt} is not a folder of HQ faces.")
    if not args.model_path.is_file():
        raise FileNotFoundError(f"--model-path: checkpoint {args.model_path} does not exist.")
    metrics, input_metrics = build_metrics(args), build_metrics(args)  # weights problems surface before any work

    # ---------------------------------------------------------------- Degrade
    lq_dir = _degraded_set(args.gt, args.out / "lq", args.seed)

    # ---------------------------------------------------------------- Restore and evaluate
    try:
        net, arch = load_generator(args.model_path, arch=args.arch)
    except ValueError as e:  # not a GFPGAN generator, or not of the requested arch
        raise OptionError(f"--model-path: {e}") from None
    device = torch.device(args.device)
    net = net.requires_grad_(False).to(device)
    dataset = PairedImageDataset(
        dataroot_gt=str(args.gt),
        dataroot_lq=str(lq_dir),
        io_backend={"type": "disk"},
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        phase="test",
    )
    loader = DataLoader(dataset, batch_size=args.restore_batch_size, shuffle=False)
    loader.dataset_name = args.gt.name
    result = score_set(net, loader, metrics, device, args.out / "restored", input_metrics=input_metrics, progress=True)
    common = {"gt": str(args.gt), "lq": str(lq_dir), "degradation": str(lq_dir / PARAMS_FILE), "seed": args.seed}
    write_reports(result.input, args.out / "input.json", args.out / "input.csv", {"restored": str(lq_dir), **common})
    restored = {
        "restored": str(args.out / "restored"),
        "checkpoint": str(args.model_path),
        "arch": arch,
        "noise": "stored buffers (randomize_noise=False)",
        **common,
    }
    write_reports(result, args.out / "ours.json", args.out / "ours.csv", restored)

    # ---------------------------------------------------------------- Table 1
    rows = {
        "Input (paper)": PAPER_TABLE_1["Input"],
        "Input (ours)": result.input.summary,
        "GFP-GAN (paper)": PAPER_TABLE_1["GFP-GAN"],
        "ours": result.summary,
        "GT (paper)": PAPER_TABLE_1["GT"],
    }
    columns = [m for m in TABLE_ORDER if m in args.metrics]
    lines = [
        format_table(rows, columns),
        protocol_line(result.protocols, len(result.files)),
        f"test set: {len(result.files)} faces of {args.gt}, degraded with seed {args.seed} "
        f"(parameters: {lq_dir / PARAMS_FILE}); paper: CelebA-Test, 3,000 faces at 512 px",
        f"model: {args.model_path} ({arch} arch, params_ema else params, stored noise)",
    ]
    text = "\n".join(lines)
    print(text)
    (args.out / "table.txt").write_text(text + "\n")
    return 0 if all(not math.isnan(v) for v in result.summary.values()) else 1


if __name__ == "__main__":
    sys.exit(run_main(main))
