"""Several methods scored under one protocol: the paper-style table (arrows, best and second best marked) as text,
Markdown, CSV, JSON and LaTeX; the k worst faces per metric; a contact sheet of faces with their scores; a
perception-distortion plot. Pure functions on scores and images (numpy / OpenCV), used by ``gfpgan-eval``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from gfpgan.metrics.report import DECIMALS, TABLE_ORDER

__all__ = ["contact_sheet", "marks", "perception_distortion_plot", "render_table", "save_png", "worst_faces"]

Rows = Mapping[str, Mapping[str, float]]  # method -> {metric: value}
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _columns(rows: Rows) -> list[str]:
    names = list(dict.fromkeys(k for row in rows.values() for k in row))
    return [m for m in TABLE_ORDER if m in names] + [m for m in names if m not in TABLE_ORDER]


def marks(rows: Rows, better: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``{method: {metric: "best" | "second"}}`` per column (ties share the mark; NaN never ranks)."""
    out: dict[str, dict[str, str]] = {m: {} for m in rows}
    for metric in _columns(rows):
        values = sorted(
            {v for row in rows.values() if (v := row.get(metric)) is not None and not math.isnan(v)},
            reverse=better.get(metric, "higher") == "higher",
        )
        for method, row in rows.items():
            v = row.get(metric)
            if v is None or not values:
                continue
            if v == values[0]:
                out[method][metric] = "best"
            elif len(values) > 1 and v == values[1]:
                out[method][metric] = "second"
    return out


def render_table(rows: Rows, better: Mapping[str, str], fmt: str = "text") -> str:
    """The table in ``fmt``: ``text`` (terminal; best ``*``, second ``_``), ``markdown`` (**best**, _second_),
    ``latex`` (\\textbf, \\underline), ``csv`` (plain values). Column headers carry the paper's arrows."""
    columns, ranks = _columns(rows), marks(rows, better)
    arrow = {"higher": "↑", "lower": "↓"}

    def header(m: str, latex: bool = False) -> str:
        name = "Deg" if m == "deg" else m.upper()
        a = better.get(m, "higher")
        return f"{name}$\\{'uparrow' if a == 'higher' else 'downarrow'}$" if latex else f"{name}{arrow[a]}"

    def cell(method: str, m: str, style: str) -> str:
        v = rows[method].get(m)
        if v is None:
            return "-"
        text = f"{v:.{DECIMALS.get(m, 4)}f}"
        mark = ranks[method].get(m)
        if style == "markdown":
            return f"**{text}**" if mark == "best" else f"_{text}_" if mark == "second" else text
        if style == "latex":
            return f"\\textbf{{{text}}}" if mark == "best" else f"\\underline{{{text}}}" if mark == "second" else text
        return text + ("*" if mark == "best" else "_" if mark == "second" else " ")

    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["method", *columns])
        for method, row in rows.items():
            writer.writerow([method, *(repr(row[m]) if m in row else "" for m in columns)])
        return buf.getvalue()
    if fmt == "markdown":
        lines = ["| method | " + " | ".join(header(m) for m in columns) + " |", "|---" * (len(columns) + 1) + "|"]
        lines += [f"| {method} | " + " | ".join(cell(method, m, "markdown") for m in columns) + " |" for method in rows]
        return "\n".join(lines) + "\n\nBest in bold, second best in italics.\n"
    if fmt == "latex":
        lines = ["\\begin{tabular}{l" + "c" * len(columns) + "}", "\\toprule",
                 "Method & " + " & ".join(header(m, latex=True) for m in columns) + " \\\\", "\\midrule"]  # fmt: skip
        lines += [f"{method} & " + " & ".join(cell(method, m, "latex") for m in columns) + " \\\\" for method in rows]
        return "\n".join([*lines, "\\bottomrule", "\\end{tabular}"]) + "\n"
    if fmt != "text":
        raise ValueError(f"render_table: fmt must be text, markdown, latex or csv, got {fmt!r}")
    width = max([8, *(len(m) + 2 for m in rows)])
    lines = [" " * width + "".join(f"{header(m):>11}" for m in columns)]
    lines += [f"{method:<{width}}" + "".join(f"{cell(method, m, 'text'):>11}" for m in columns) for method in rows]
    return "\n".join(lines) + "\n" + " " * width + "(* best, _ second best)"


def worst_faces(
    per_image: Mapping[str, Mapping[str, float]], better: Mapping[str, str], k: int = 5
) -> dict[str, list[dict]]:
    """The ``k`` worst-scoring files per metric: ``{metric: [{"file", "value"}, ...]}``, worst first."""
    out = {}
    metrics = dict.fromkeys(m for values in per_image.values() for m in values)
    for metric in metrics:
        scored = [(f, v[metric]) for f, v in per_image.items() if metric in v and not math.isnan(v[metric])]
        scored.sort(key=lambda fv: fv[1], reverse=better.get(metric, "higher") == "lower")
        out[metric] = [{"file": f, "value": v} for f, v in scored[:k]]
    return out


def _text(img: np.ndarray, lines: Sequence[str], top: int, scale: float = 0.4) -> None:
    for i, line in enumerate(lines):
        cv2.putText(img, line, (4, top + 14 * (i + 1)), _FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)


def contact_sheet(
    faces: Sequence[str],
    columns: Mapping[str, Mapping[str, np.ndarray]],
    scores: Mapping[str, Mapping[str, Mapping[str, float]]],
    tile: int = 160,
) -> np.ndarray:
    """One row per face, one column per source (e.g. input | method A | method B | GT), the column's per-image scores
    written under each face. Images are (H,W,3) uint8 RGB, resized to ``tile`` px.

    Args:
        faces: the file names, in row order.
        columns: ``{column title: {file: image}}``; a missing image leaves a gray tile.
        scores: ``{column title: {file: {metric: value}}}`` (columns without scores get none).
    Returns:
        (H, W, 3) uint8 RGB.
    """
    metric_lines = max([1, *(len(v) for col in scores.values() for v in col.values())])
    text_h = 14 * metric_lines + 8
    header = np.full((26, tile * len(columns), 3), 255, np.uint8)
    for j, title in enumerate(columns):
        cv2.putText(header, title[:22], (j * tile + 4, 18), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    rows = [header]
    for face in faces:
        row = np.full((tile + text_h, tile * len(columns), 3), 255, np.uint8)
        for j, (title, images) in enumerate(columns.items()):
            img = images.get(face)
            cell = np.full((tile, tile, 3), 128, np.uint8) if img is None else cv2.resize(img, (tile, tile))
            row[:tile, j * tile : (j + 1) * tile] = cell
            values = scores.get(title, {}).get(face, {})
            lines = [f"{m} {v:.{DECIMALS.get(m, 4)}f}" for m, v in values.items()]
            block = row[tile:, j * tile : (j + 1) * tile]
            _text(block, lines, 0)
        cv2.putText(row, face[:24], (4, 12), _FONT, 0.35, (255, 255, 0), 1, cv2.LINE_AA)
        rows.append(row)
    return np.concatenate(rows, axis=0)


def perception_distortion_plot(
    rows: Rows, x_metric: str, y_metric: str, better: Mapping[str, str], size: tuple[int, int] = (640, 480)
) -> np.ndarray:
    """One point per method: distortion (``x_metric``, e.g. PSNR or LPIPS) against perception (``y_metric``, e.g.
    FID or NIQE), axes labelled with the better direction. (H,W,3) uint8 RGB."""
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    left, right, top, bottom = 70, 20, 30, 60
    points = {m: (r[x_metric], r[y_metric]) for m, r in rows.items() if x_metric in r and y_metric in r}
    if not points:
        raise ValueError(f"perception_distortion_plot: no method has both {x_metric} and {y_metric}")
    xs, ys = [p[0] for p in points.values()], [p[1] for p in points.values()]

    def span(values: list[float]) -> tuple[float, float]:
        lo, hi = min(values), max(values)
        pad = (hi - lo) * 0.15 or abs(hi) * 0.05 or 1.0
        return lo - pad, hi + pad

    (x0, x1), (y0, y1) = span(xs), span(ys)

    def to_px(x: float, y: float) -> tuple[int, int]:
        px = left + (x - x0) / (x1 - x0) * (w - left - right)
        py = h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom)
        return int(round(px)), int(round(py))

    cv2.rectangle(img, (left, top), (w - right, h - bottom), (0, 0, 0), 1)
    for i in range(5):  # ticks
        xv, yv = x0 + (x1 - x0) * i / 4, y0 + (y1 - y0) * i / 4
        px, _ = to_px(xv, y0)
        _, py = to_px(x0, yv)
        cv2.putText(img, f"{xv:.3g}", (px - 15, h - bottom + 16), _FONT, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, f"{yv:.3g}", (8, py + 4), _FONT, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    arrows = {"higher": "higher is better", "lower": "lower is better"}
    xlabel = f"{x_metric.upper()} ({arrows[better.get(x_metric, 'higher')]})"
    ylabel = f"{y_metric.upper()} ({arrows[better.get(y_metric, 'higher')]})"
    cv2.putText(img, xlabel, (left, h - 18), _FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, ylabel, (left, 20), _FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    colours = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]
    for i, (method, (x, y)) in enumerate(points.items()):
        px, py = to_px(x, y)
        colour = colours[i % len(colours)]
        cv2.circle(img, (px, py), 6, colour, -1, cv2.LINE_AA)
        cv2.putText(img, method[:20], (px + 8, py - 8), _FONT, 0.45, colour, 1, cv2.LINE_AA)
    return img


def save_png(path: Path, img: np.ndarray) -> None:
    """Write an (H,W,3) uint8 RGB picture (folders created; atomically)."""
    from gfpgan.utils.images import imwrite_rgb

    imwrite_rgb(path, img)
