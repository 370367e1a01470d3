"""Write seeded procedural face images (PNG) and their eye/mouth components JSON.

python scripts/make_synthetic_faces.py --num 300 --size 64 --out datasets/synthetic_64 [--seed 0]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import argparse  # noqa: E402
import time  # noqa: E402

from gfpgan.data.synthetic import make_synthetic_faces  # noqa: E402
from gfpgan.utils.errors import run_main  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num", type=int, required=True, help="number of faces")
    parser.add_argument("--size", type=int, required=True, help="image size in pixels (a power of two)")
    parser.add_argument("--out", required=True, help="output folder (00000000.png ... + components.json)")
    parser.add_argument("--seed", type=int, default=0, help="face i is drawn from default_rng([seed, i])")
    parser.add_argument("--components-file", default="components.json", help="name of the components JSON")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    make_synthetic_faces(args.out, args.num, args.size, args.seed, args.components_file)
    print(f"wrote {args.num} faces of {args.size}px to {args.out} in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    sys.exit(run_main(main))
