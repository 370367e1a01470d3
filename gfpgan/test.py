"""Test a generator checkpoint on the test sets of an option file (BasicSR's ``test.py``): restore, score, save.

Every ``datasets.test*`` and ``datasets.val*`` block is restored by ``network_g`` loaded from
``path.pretrain_network_g`` (key ``path.param_key_g``; ~ = params_ema, else params, else a raw state dict) with the
generator's stored noise buffers (``randomize_noise=False``: the same input always gives the same output), in batches
of the block's ``batch_size_per_gpu``, and scored with ``val.metrics``. Per set, in ``results/<name>/``:

    <dataset>.json   {"protocol": {...}, "summary": {...}, "per_image": {...}}   (the gfpgan-eval layout)
    <dataset>.csv    file, one column per per-image metric
    visualization/<dataset>/<stem>.png   restored faces (``val.save_img``)

and a Table-1 style row with the protocol line on stdout.

    python test.py -opt options/test_gfpgan.yml [--set path.pretrain_network_g=net_g_latest.pth] [--dry-run]
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from gfpgan.archs.contract import check_generator
from gfpgan.metrics.base import Metric
from gfpgan.metrics.report import SetResult, collect, format_table, protocol_line, write_reports
from gfpgan.options import OptionError, Options, add_option_arguments, dump_options, load_options, print_dry_run
from gfpgan.registry import METRICS
from gfpgan.run import build_network, build_val_loaders, resolve_device
from gfpgan.utils.errors import BAD_INPUT, run_main
from gfpgan.utils.images import imwrite_rgb, tensor2img
from gfpgan.utils.malloc import tune_malloc

__all__ = [
    "SetResult",
    "build_generator",
    "format_table",
    "main",
    "protocol_line",
    "restore_batches",
    "score_set",
    "test",
    "write_reports",
]

# Errors that mean "the inputs are not there or do not fit", reported as one line instead of a traceback.
USER_ERRORS = BAD_INPUT  # what an input error can raise (gfpgan/utils/errors.py)


# ======================================================================================================================
# Command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Restore and score the test sets of a YAML option file.")
    parser.add_argument("-opt", "--opt", required=True, help="path to the test option YAML file")
    add_option_arguments(parser, example="path.pretrain_network_g=net_g_5000.pth val.save_img=false")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """``python test.py -opt FILE``: 0 on success, 1 when a score is NaN or the run fails, 2 on an input error (one
    line each; a traceback with --debug). ``argv`` None = run as the program (sys.argv), which also tunes the
    process's heap (gfpgan/utils/malloc.py)."""
    if argv is None:
        tune_malloc()
    args = parse_args(argv)
    return run_main(lambda: _main(args, sys.argv if argv is None else argv), debug=args.debug)


def _main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    opts, report = load_options(args.opt, overrides=args.overrides, phase="test")
    if args.dry_run:
        print_dry_run(opts, report, args.opt)
        return 0
    checkpoint = opts.path.pretrain_network_g
    if not checkpoint:
        raise OptionError(
            f"{args.opt}: path.pretrain_network_g is not set; test.py needs a generator checkpoint "
            "(--set path.pretrain_network_g=FILE)."
        )
    if not Path(checkpoint).expanduser().is_file():
        raise OptionError(
            f"{args.opt}: path.pretrain_network_g: checkpoint {checkpoint} does not exist. Download it (see "
            "experiments/pretrained_models/README.md) or pass --set path.pretrain_network_g=FILE."
        )
    if report.problems:
        raise OptionError(f"{args.opt}: cannot start testing: " + "; ".join(report.problems))
    try:
        results = test(opts, argv=argv)
    except OptionError as e:
        raise OptionError(f"{args.opt}: {e}") from None
    finite = all(not math.isnan(v) for r in results.values() for v in r.summary.values())
    return 0 if finite else 1


# ======================================================================================================================
# Building blocks (also used by scripts/reproduce_table.py)


def build_generator(opts: Options, device: torch.device) -> nn.Module:
    """``network_g`` with the weights of ``path.pretrain_network_g``, in eval mode, frozen, on ``device``."""
    net = check_generator(build_network(opts, "network_g"), "network_g")
    return net.eval().requires_grad_(False).to(device)


def _check_range(spec: Mapping, where: str) -> None:
    """The generator takes RGB in [-1, 1]: the dataset must normalise with mean = std = 0.5."""
    mean, std = spec.get("mean"), spec.get("std")
    ok = mean is not None and std is not None and np.allclose(mean, 0.5) and np.allclose(std, 0.5)
    if not ok or spec.get("color") == "y":
        raise OptionError(
            f"{where}: the generator takes RGB in [-1, 1]; set mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] "
            f"(got mean {mean}, std {std}) and no color: y."
        )


@torch.no_grad()
def restore_batches(
    net: nn.Module, loader: DataLoader, device: torch.device
) -> Iterator[tuple[list[str], list[np.ndarray], list[np.ndarray | None], list[np.ndarray]]]:
    """Restore a loader of ``{'lq', ['gt'], 'lq_path'}`` batches ((N,3,S,S) float in [-1,1], RGB).

    Noise: the generator's stored buffers (``randomize_noise=False``), so results do not depend on batching.
    Yields, per batch: (stems, restored, gt, lq) with images as (S,S,3) uint8 RGB (gt entries None without GT).
    """
    size = int(getattr(net, "out_size", 0) or 0)
    for batch in loader:
        lq = batch["lq"]
        if size and tuple(lq.shape[-2:]) != (size, size):
            raise OptionError(
                f"{batch['lq_path'][0]}: LQ faces are {lq.shape[-1]}x{lq.shape[-2]} px but network_g.out_size is "
                f"{size}: the generator restores aligned {size}x{size} faces (resize the test set or pick the arch)."
            )
        output, _ = net(lq.to(device), return_rgb=False, randomize_noise=False)
        stems = [Path(p).stem for p in batch["lq_path"]]
        gts = _images(batch["gt"]) if "gt" in batch else [None] * len(stems)
        yield stems, _images(output), gts, _images(lq)


def _images(batch: torch.Tensor) -> list[np.ndarray]:
    """(N,3,H,W) float in [-1,1], RGB -> (H,W,3) uint8 RGB, C-contiguous as if read from the saved PNG (the layout
    changes the summation order of some metrics in the last bits)."""
    return [np.ascontiguousarray(img) for img in tensor2img(batch)]


def score_set(
    net: nn.Module,
    loader: DataLoader,
    metrics: Mapping[str, Metric],
    device: torch.device,
    save_dir: Path | None = None,
    suffix: str | None = None,
    input_metrics: Mapping[str, Metric] | None = None,
    progress: bool = False,
) -> SetResult:
    """Restore every image of ``loader`` and score it with ``metrics`` (objects of METRICS, fresh).

    Args:
        save_dir: write the restored faces here as ``<stem>[_<suffix>].png`` (None: do not save).
        input_metrics: also score the degraded input against GT with these (the table's "Input" row).
    """
    input_metrics = input_metrics or {}
    full_reference = [k for k, m in [*metrics.items(), *input_metrics.items()] if m.needs_gt]
    batches = restore_batches(net, loader, device)
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, total=len(loader), desc=f"test {loader.dataset_name}", unit="batch")
    files = []
    for stems, restored, gts, lqs in batches:
        if full_reference and gts[0] is None:
            raise OptionError(
                f"val.metrics.{full_reference[0]}: needs ground truth, but {loader.dataset_name} has none (use a "
                "PairedImageDataset, or no-reference metrics: niqe, fid with stats)."
            )
        for stem, img, gt, lq in zip(stems, restored, gts, lqs):
            name = f"{stem}_{suffix}.png" if suffix else f"{stem}.png"
            files.append(name)
            if save_dir is not None:
                imwrite_rgb(save_dir / name, img)
            for metric in metrics.values():
                metric.update(img, gt)
            for metric in input_metrics.values():
                metric.update(lq, gt)
    if not files:
        raise OptionError(f"{loader.dataset_name}: the dataset is empty.")
    result = collect(metrics, files)
    if input_metrics:
        result.input = collect(input_metrics, files)
    return result


# ======================================================================================================================
# Test


def _results_root(opts: Options) -> Path:
    root = Path(opts.path.results_root or Path("results") / opts.name)
    if root.exists():
        archived = root.with_name(f"{root.name}_archived_{datetime.datetime.now():%Y%m%d_%H%M%S}")
        root.rename(archived)
        print(f"Results folder {root} exists: archived as {archived}")
    root.mkdir(parents=True)
    return root


def test(opts: Options, argv: Sequence[str] | None = None) -> dict[str, SetResult]:
    """Restore and score every test*/val* set of validated test options; returns the results by dataset name."""
    # ---------------------------------------------------------------- Sets and metrics (cheap checks first)
    device = resolve_device(opts.num_gpu)
    if opts.num_threads:
        torch.set_num_threads(opts.num_threads)
    metric_specs = {k: spec for k, spec in opts.val.metrics.items() if spec is not None}  # --set val.metrics.fid=~
    phases = [p for p in opts.datasets if p.startswith(("test", "val"))]
    names: dict[str, str] = {}
    for phase in phases:
        spec = opts.datasets[phase]
        _check_range(spec, f"datasets.{phase}")
        name = spec.get("name") or phase
        if name in names.values():
            raise OptionError(f"datasets.{phase}.name: {name!r} is used by another set; outputs are per set name.")
        names[phase] = name

    def build_metrics() -> dict[str, Metric]:
        metrics = {}
        for key, spec in metric_specs.items():
            try:
                metrics[key] = METRICS.build(spec, where=f"val.metrics.{key}", device=device)
            except (FileNotFoundError, ValueError) as e:  # weights or statistics files missing or of the wrong kind
                raise OptionError(f"val.metrics.{key}: {e} (--set val.metrics.{key}=~ leaves it out)") from None
        return metrics

    first_metrics = build_metrics()  # missing metric weights fail here, before any restoration

    # ---------------------------------------------------------------- Network
    net = build_generator(opts, device)
    root = _results_root(opts)
    stamp = f"{datetime.datetime.now():%Y%m%d_%H%M%S}"
    (root / "options.yml").write_text(f"# generated {stamp} by: {' '.join(argv or [])}\n" + dump_options(opts))
    print(f"network_g {opts.network_g.type}: {opts.path.pretrain_network_g} on {device}; results in {root}")

    # ---------------------------------------------------------------- Restore and score each set
    results = {}
    loaders = build_val_loaders(opts, prefixes=("test", "val"))
    for i, (phase, loader) in enumerate(loaders.items()):
        spec, name = opts.datasets[phase], names[phase]
        save_dir = root / "visualization" / name if opts.val.save_img else None
        metrics = first_metrics if i == 0 else build_metrics()
        result = score_set(net, loader, metrics, device, save_dir, opts.val.suffix, progress=opts.val.pbar)
        protocol = {
            "restored": str(save_dir) if save_dir else None,
            "gt": spec.get("dataroot_gt"),
            "lq": spec.get("dataroot_lq"),
            "checkpoint": str(opts.path.pretrain_network_g),
            "param_key": opts.path.param_key_g or "auto",
            "network_g": opts.network_g.type,
            "noise": "stored buffers (randomize_noise=False)",
        }
        if metrics:
            write_reports(result, root / f"{name}.json", root / f"{name}.csv", protocol)
            print(format_table({name: result.summary}))
            print(protocol_line(result.protocols, len(result.files)))
        else:
            print(f"{name}: {len(result.files)} images restored to {save_dir} (no val.metrics)")
        results[name] = result
    return results


if __name__ == "__main__":
    sys.exit(main())
