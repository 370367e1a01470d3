#!/usr/bin/env python3
"""Inception statistics of an image folder for FID: ``python scripts/calculate_fid_stats.py --input ffhq512/
--output ffhq512_stats.npz``.

The .npz holds ``mu`` (2048,), ``sigma`` (2048, 2048), ``num_images``, ``source`` and ``protocol`` and is read by
``gfpgan-eval --fid-stats`` (which also reads BasicSR's ``inception_FFHQ_512.pth``). Same protocol as the metric:
RGB [0,1] -> bilinear 299 (align_corners False) -> [-1,1] -> pt_inception-2015-12-05 pool features.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from tqdm import tqdm  # noqa: E402

from gfpgan.metrics.fid import (  # noqa: E402
    image_files,
    inception_features,
    load_fid_inception,
    read_rgb,
    save_fid_stats,
    statistics,
)
from gfpgan.utils.errors import run_main  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, type=Path, help="folder of images")
    parser.add_argument("--output", required=True, type=Path, help="statistics file to write (.npz)")
    parser.add_argument("--num-sample", type=int, help="use the first N images (sorted by name)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--fid-inception-weights", help="pt_inception-2015-12-05-6726825d.pth (offline)")
    args = parser.parse_args(argv)
    if args.output.suffix != ".npz":
        raise SystemExit(f"error: --output must end in .npz, got {args.output}")

    files = image_files(args.input)[: args.num_sample]
    model = load_fid_inception(args.fid_inception_weights, args.device)
    images = (read_rgb(path) for path in tqdm(files, desc="inception", unit="img"))
    features = inception_features(images, model, args.batch_size, args.device)
    mu, sigma = statistics(features)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    save_fid_stats(args.output, mu, sigma, num_images=len(features), source=str(args.input))
    print(f"wrote {args.output}: {len(features)} images from {args.input}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
