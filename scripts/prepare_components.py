"""Make the eye/mouth components JSON (keyed by file stem) used by FFHQDegradationDataset's crop_components.

From FFHQ's metadata (the official rule of GFPGAN's parse_landmark.py: 68-point landmarks x scale, eyes = points
36-41 / 42-47, mouth 48-67, centre = mean, half_len = max(max(range_x, range_y) / 2, 16)):

    python scripts/prepare_components.py --ffhq-json ffhq-dataset-v2.json --out components.json [--scale 0.5]

From 68-point landmarks you computed for any other folder of aligned faces (any 68-point detector in the iBUG-300W
order; pixel coordinates of the aligned images):

    python scripts/prepare_components.py --landmarks-json my_landmarks.json --out components.json [--size-ref 512]

where my_landmarks.json maps each file stem to its 68 [x, y] points: ``{"00000": [[x0, y0], ..., [x67, y67]], ...}``.
The 16 px floor of the official rule is scaled by image width / --size-ref when --image-width is given.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import argparse  # noqa: E402
import json  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from gfpgan.data.components import components_from_68_landmarks, save_components  # noqa: E402
from gfpgan.utils.errors import run_main  # noqa: E402


def from_ffhq_json(json_path: str, scale: float, min_half_len: float) -> dict:
    """FFHQ ``ffhq-dataset-v2.json`` -> components keyed by '%08d' (the FFHQ index = file stem of prepare_ffhq.py)."""
    data = json.loads(Path(json_path).read_text())
    out = {}
    for key, item in tqdm(data.items(), desc="landmarks", unit="img"):
        points = np.asarray(item["image"]["face_landmarks"], dtype=np.float64)
        out[f"{int(key):08d}"] = components_from_68_landmarks(points, scale, min_half_len)
    return out


def from_landmarks_json(json_path: str, min_half_len: float) -> dict:
    """``{stem: 68 x [x, y]}`` in pixels of the aligned faces -> components keyed by stem (the official rule)."""
    try:
        data = json.loads(Path(json_path).read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"{json_path}: not a readable JSON file ({e}).") from None
    if not isinstance(data, dict) or not data:
        raise SystemExit(f"{json_path}: expected a non-empty object {{file stem: [[x, y] x 68]}}.")
    out = {}
    for stem, points in tqdm(data.items(), desc="landmarks", unit="img"):
        arr = np.asarray(points, dtype=np.float64)
        if arr.shape != (68, 2):
            raise SystemExit(f"{json_path}: entry {stem!r} has shape {list(arr.shape)}, expected 68 [x, y] points.")
        out[str(stem)] = components_from_68_landmarks(arr, 1.0, min_half_len)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ffhq-json", help="FFHQ ffhq-dataset-v2.json")
    source.add_argument("--landmarks-json", help="68-point landmarks of your own aligned faces, {stem: [[x, y], ...]}")
    parser.add_argument("--out", required=True, help="output JSON")
    parser.add_argument("--scale", type=float, default=0.5, help="landmark scale for --ffhq-json (0.5: 1024 -> 512)")
    parser.add_argument("--min-half-len", type=float, default=16.0, help="smallest half box size (at 512 px)")
    parser.add_argument(
        "--image-width", type=int, help="--landmarks-json: width of the aligned faces (scales the floor)"
    )
    parser.add_argument("--size-ref", type=int, default=512, help="the width the 16 px floor is meant for")
    args = parser.parse_args(argv)
    if args.ffhq_json:
        comps = from_ffhq_json(args.ffhq_json, args.scale, args.min_half_len)
    else:
        floor = args.min_half_len * (args.image_width / args.size_ref if args.image_width else 1.0)
        comps = from_landmarks_json(args.landmarks_json, floor)
    save_components(comps, args.out)
    print(f"wrote components of {len(comps)} images to {args.out}")


if __name__ == "__main__":
    sys.exit(run_main(main))
