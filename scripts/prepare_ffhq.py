"""Turn the FFHQ 1024 release (images1024x1024/, flat or in 1000-image subfolders) into the 512 training folder.

Antialiased resize (cv2.INTER_AREA), PNG, file names '%08d.png' (the FFHQ index, as the official landmark file
FFHQ_eye_mouth_landmarks_512.pth and scripts/prepare_components.py expect). Resumable: finished files are skipped,
each file is written to a temporary name and renamed.

    python scripts/prepare_ffhq.py --input datasets/ffhq/images1024x1024 --output datasets/ffhq/ffhq_512
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import argparse  # noqa: E402
import os  # noqa: E402

import cv2  # noqa: E402
from tqdm import tqdm  # noqa: E402

from gfpgan.utils.errors import run_main  # noqa: E402
from gfpgan.utils.files import atomic_imwrite  # noqa: E402


def find_ffhq_images(root: str | os.PathLike) -> list[Path]:
    """All images under ``root`` (one level of subfolders allowed) whose stem is a number, sorted by that number."""
    root = Path(root)
    if not root.is_dir():
        raise SystemExit(f"--input {root}: not a folder.")
    files = [p for p in root.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg") and p.stem.isdigit()]
    return sorted(files, key=lambda p: int(p.stem))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="FFHQ images1024x1024 folder")
    parser.add_argument("--output", required=True, help="output folder of 512 PNGs")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--compress-level", type=int, default=3, help="PNG compression level (0-9)")
    args = parser.parse_args(argv)
    files = find_ffhq_images(args.input)
    if not files:
        raise SystemExit(f"--input {args.input}: no numbered FFHQ images found.")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    skipped = 0
    for path in tqdm(files, desc="ffhq", unit="img"):
        target = out / f"{int(path.stem):08d}.png"
        if target.exists():
            skipped += 1
            continue
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise SystemExit(f"{path}: unreadable image; re-download it.")
        if img.shape[:2] != (args.size, args.size):
            interp = cv2.INTER_AREA if img.shape[0] > args.size else cv2.INTER_CUBIC
            img = cv2.resize(img, (args.size, args.size), interpolation=interp)
        try:
            atomic_imwrite(target, img, [cv2.IMWRITE_PNG_COMPRESSION, args.compress_level])
        except OSError as e:
            raise SystemExit(str(e)) from None
    print(f"{len(files) - skipped} written, {skipped} already done, in {out}")


if __name__ == "__main__":
    sys.exit(run_main(main))
