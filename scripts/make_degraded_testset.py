"""Make a CelebA-Test-style LQ set from any folder of HQ faces with the paper's degradation.

Image i of the sorted folder is degraded with default_rng([seed, 0, i]) and saved as PNG under the same stem; every
sampled parameter goes to <out>/degradation_params.json. Same inputs and seed give the same files, bit for bit.

    python scripts/make_degraded_testset.py --gt datasets/celeba_512 --out datasets/celeba_512_lq --seed 0
    python scripts/make_degraded_testset.py --gt GT --out LQ --seed 1 --noise-range 0 10 --no-color-jitter
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import argparse  # noqa: E402

from gfpgan.data.degradations import DegradationSettings  # noqa: E402
from gfpgan.data.testset import PARAMS_FILE, degrade_folder  # noqa: E402
from gfpgan.utils.errors import run_main  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    d = DegradationSettings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gt", required=True, help="folder of HQ images")
    parser.add_argument("--out", required=True, help="output folder for the LQ images")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--blur-kernel-size", type=int, default=d.blur_kernel_size)
    parser.add_argument("--kernel-list", nargs="+", default=list(d.kernel_list))
    parser.add_argument("--kernel-prob", nargs="+", type=float, default=list(d.kernel_prob))
    parser.add_argument("--blur-sigma", nargs=2, type=float, default=list(d.blur_sigma))
    parser.add_argument("--downsample-range", nargs=2, type=float, default=list(d.downsample_range))
    parser.add_argument("--noise-range", nargs=2, type=float, default=list(d.noise_range))
    parser.add_argument("--jpeg-range", nargs=2, type=float, default=list(d.jpeg_range))
    parser.add_argument("--color-jitter-prob", type=float, default=d.color_jitter_prob)
    parser.add_argument("--color-jitter-shift", type=float, default=d.color_jitter_shift)
    parser.add_argument("--color-jitter-pt-prob", type=float, default=d.color_jitter_pt_prob)
    parser.add_argument("--gray-prob", type=float, default=d.gray_prob)
    parser.add_argument("--no-noise", action="store_true", help="skip the Gaussian noise")
    parser.add_argument("--no-jpeg", action="store_true", help="skip the JPEG compression")
    parser.add_argument("--no-color-jitter", action="store_true", help="no colour shift, no pt jitter, no gray")
    args = parser.parse_args(argv)
    settings = DegradationSettings(
        blur_kernel_size=args.blur_kernel_size,
        kernel_list=tuple(args.kernel_list),
        kernel_prob=tuple(args.kernel_prob),
        blur_sigma=tuple(args.blur_sigma),
        downsample_range=tuple(args.downsample_range),
        noise_range=None if args.no_noise else tuple(args.noise_range),
        jpeg_range=None if args.no_jpeg else tuple(args.jpeg_range),
        color_jitter_prob=None if args.no_color_jitter else args.color_jitter_prob,
        color_jitter_shift=args.color_jitter_shift,
        color_jitter_pt_prob=None if args.no_color_jitter else args.color_jitter_pt_prob,
        gray_prob=None if args.no_color_jitter else args.gray_prob,
    )
    params = degrade_folder(args.gt, args.out, args.seed, settings, progress=True)
    print(f"wrote {len(params)} LQ images and {PARAMS_FILE} to {args.out}")


if __name__ == "__main__":
    sys.exit(run_main(main))
