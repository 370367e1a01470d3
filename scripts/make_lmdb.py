"""Pack a folder of images into a BasicSR-layout LMDB (data.mdb + meta_info.txt, key = file stem).

python scripts/make_lmdb.py --input datasets/ffhq/ffhq_512 --output datasets/ffhq/ffhq_512.lmdb
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import argparse  # noqa: E402

from gfpgan.data.image_io import list_images, write_lmdb  # noqa: E402
from gfpgan.utils.errors import run_main  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="folder of images (sorted by name)")
    parser.add_argument("--output", required=True, help="LMDB folder to create (conventionally ending in .lmdb)")
    parser.add_argument("--compress-level", type=int, default=1, help="PNG level for non-PNG inputs (re-encoded)")
    args = parser.parse_args(argv)
    paths = list_images(args.input)
    if not paths:
        raise SystemExit(f"{args.input}: no images found.")
    n = write_lmdb(paths, args.output, args.compress_level, progress=True)
    print(f"wrote {n} images to {args.output}")


if __name__ == "__main__":
    sys.exit(run_main(main))
