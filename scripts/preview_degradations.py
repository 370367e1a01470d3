"""Contact sheet of GT / LQ pairs with their sampled degradation parameters written under each pair.

    python scripts/preview_degradations.py --synthetic 8 --size 128 --out preview.png [--seed 0]
    python scripts/preview_degradations.py --gt datasets/ffhq/ffhq_512 --num 8 --out preview.png

The degradation is the official GFPGAN training one (DegradationSettings defaults); pair i uses
default_rng([seed, 0, i]) like FFHQDegradationDataset at epoch 0 (without flip).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import argparse  # noqa: E402
import tempfile  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from gfpgan.data.degradations import DegradationSettings, degrade  # noqa: E402
from gfpgan.data.image_io import list_images, read_image  # noqa: E402
from gfpgan.data.synthetic import make_synthetic_faces  # noqa: E402
from gfpgan.utils.errors import run_main  # noqa: E402


def describe(p: dict) -> list[str]:
    kernel = p["kernel"]
    blur = f"{kernel} s={p['sigma_x']:.1f}" + (f"/{p['sigma_y']:.1f}" if "aniso" in kernel else "")
    lines = [blur, f"down x{p['downsample_scale']:.2f}"]
    extra = []
    if "noise_sigma" in p:
        extra.append(f"n={p['noise_sigma']:.1f}")
    if "jpeg_quality" in p:
        extra.append(f"q={p['jpeg_quality']}")
    lines.append(" ".join(extra))
    tags = [t for t, k in (("shift", "jitter_shift_bgr"), ("jitter", "jitter_order"), ("gray", "gray")) if k in p]
    if tags:
        lines.append("+" + ",".join(tags))
    return lines


def contact_sheet(images: list[np.ndarray], settings: DegradationSettings, seed: int, cols: int) -> np.ndarray:
    """(H, W, 3) uint8 BGR sheet: for each image a [GT | LQ] pair and its parameters."""
    size = images[0].shape[0]
    scale = max(size / 128, 0.6) * 0.38
    line_h = int(round(30 * scale)) + 2
    text_h = 4 * line_h + 4
    cell_w, cell_h = 2 * size + 8, size + text_h + 8
    rows = (len(images) + cols - 1) // cols
    sheet = np.full((rows * cell_h, cols * cell_w, 3), 255, np.uint8)
    for i, gt in enumerate(images):
        lq, _, params = degrade(gt, np.random.default_rng([seed, 0, i]), settings)
        pair = np.concatenate([gt, lq], axis=1)
        y0, x0 = (i // cols) * cell_h + 4, (i % cols) * cell_w + 4
        sheet[y0 : y0 + size, x0 : x0 + 2 * size] = np.clip(pair * 255 + 0.5, 0, 255).astype(np.uint8)
        for j, line in enumerate(describe(params)):
            org = (x0 + 2, y0 + size + (j + 1) * line_h)
            cv2.putText(sheet, line, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20), 1, cv2.LINE_AA)
    return sheet


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--gt", help="folder of HQ faces")
    source.add_argument("--synthetic", type=int, metavar="N", help="use N synthetic faces")
    parser.add_argument("--size", type=int, default=128, help="face size (synthetic faces, or resize of --gt)")
    parser.add_argument("--num", type=int, default=8, help="number of pairs from --gt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cols", type=int, default=4)
    parser.add_argument("--colors", type=int, default=0, help="quantise the PNG to this many colours (smaller file)")
    parser.add_argument("--out", required=True, help="output PNG")
    args = parser.parse_args(argv)
    if args.synthetic:
        with tempfile.TemporaryDirectory() as tmp:
            make_synthetic_faces(tmp, args.synthetic, args.size, seed=args.seed)
            images = [read_image(p) for p in list_images(tmp)]
    else:
        images = [read_image(p) for p in list_images(args.gt)[: args.num]]
        images = [cv2.resize(im, (args.size, args.size), interpolation=cv2.INTER_AREA) for im in images]
    sheet = contact_sheet(images, DegradationSettings(), args.seed, args.cols)
    if args.colors:
        from PIL import Image

        rgb = Image.fromarray(np.ascontiguousarray(sheet[:, :, ::-1]))
        rgb.quantize(colors=args.colors, method=Image.Quantize.MEDIANCUT).save(args.out, optimize=True)
    else:
        cv2.imwrite(args.out, sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    sys.exit(run_main(main))
