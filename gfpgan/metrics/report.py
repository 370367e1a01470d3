"""Score reports: the Table-1 text table, the protocol line, and the JSON/CSV files.

One layout for every command that scores images (``gfpgan-eval``, ``test.py``, ``scripts/reproduce_table.py``):
JSON ``{"protocol": {...}, "summary": {metric: value}, "per_image": {file: {metric: value}}}`` and a per-image CSV.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gfpgan.metrics.base import Metric, finite_or_str

__all__ = ["DECIMALS", "TABLE_ORDER", "SetResult", "collect", "format_table", "protocol_line", "write_reports"]

TABLE_ORDER = ("lpips", "fid", "niqe", "deg", "psnr", "ssim")  # the column order of the paper's Table 1
DECIMALS = {"lpips": 4, "fid": 2, "niqe": 3, "deg": 2, "psnr": 2, "ssim": 4, "kid": 5}  # others: 4


@dataclass
class SetResult:
    """Scores of one set: file names (as saved), summary and per-image values per metric, protocols; ``input``: the
    same for the degraded inputs (when asked for)."""

    files: list[str]
    summary: dict[str, float]
    per_image: dict[str, dict[str, float]]
    protocols: dict[str, dict]
    input: SetResult | None = None


def collect(metrics: Mapping[str, Metric], files: list[str]) -> SetResult:
    summary = {name: m.compute() for name, m in metrics.items()}
    protocols = {name: m.protocol() for name, m in metrics.items()}
    per_image: dict[str, dict[str, float]] = {f: {} for f in files}
    for name, metric in metrics.items():
        for f, value in zip(files, metric.per_image):
            per_image[f][name] = value
    return SetResult(files, summary, per_image, protocols)


def _columns(names: Sequence[str]) -> list[str]:
    """Metric names in the paper's Table 1 order, then any others in their given order."""
    return [m for m in TABLE_ORDER if m in names] + [m for m in names if m not in TABLE_ORDER]


def format_table(rows: Mapping[str, Mapping[str, float]], columns: Sequence[str] | None = None) -> str:
    """A Table-1 style text table: one line per ``label -> {metric: value}``; a missing value prints as ``-``."""
    if columns is None:
        columns = _columns(list(dict.fromkeys(k for row in rows.values() for k in row)))
    width = max([8, *(len(label) + 2 for label in rows)])
    header = " " * width + "".join(f"{'Deg' if m == 'deg' else m.upper():>10}" for m in columns)
    lines = [header]
    for label, row in rows.items():
        cells = []
        for m in columns:
            value = row.get(m)
            cells.append(f"{'-':>10}" if value is None else f"{value:>10.{DECIMALS.get(m, 4)}f}")
        lines.append(f"{label:<{width}}" + "".join(cells))
    return "\n".join(lines)


def protocol_line(protocols: Mapping[str, dict], num_images: int | None = None) -> str:
    """``protocol: psnr: channels=RGB, ... | ... | N=...``: how every number was computed."""
    parts = []
    for name in _columns(list(protocols)):
        details = ", ".join(f"{k}={v}" for k, v in protocols[name].items() if k != "metric")
        parts.append(f"{name}: {details}")
    return "protocol: " + " | ".join(parts) + (f" | N={num_images}" if num_images is not None else "")


def write_reports(result: SetResult, json_path: Path | None, csv_path: Path | None, protocol: Mapping) -> None:
    """JSON ``{"protocol", "summary", "per_image"}`` and a per-image CSV, in the layout of ``gfpgan-eval``.

    ``protocol``: what was scored (restored / gt folders, checkpoint, ...); ``num_images`` and ``metrics`` (each
    metric's protocol) are added here.
    """
    if csv_path is not None:
        columns = [m for m in _columns(list(result.summary)) if any(m in v for v in result.per_image.values())]
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        with open(csv_path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["file", *columns])
            for name in result.files:
                writer.writerow([name, *(repr(result.per_image[name][m]) for m in columns)])
    if json_path is not None:
        report = {
            "protocol": {**protocol, "num_images": len(result.files), "metrics": result.protocols},
            "summary": {k: finite_or_str(v) for k, v in result.summary.items()},
            "per_image": {f: {k: finite_or_str(v) for k, v in vals.items()} for f, vals in result.per_image.items()},
        }
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=1))
