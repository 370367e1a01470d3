"""Make the eye/mouth components JSON (keyed by file stem) used by FFHQDegradationDataset's crop_components.

From FFHQ's metadata (the official rule of GFPGAN's parse_landmark.py: 68-point landmarks x scale, eyes = points
36-41 / 42-47, mouth 48-67, centre = mean, half_len = max(max(range_x, range_y) / 2, 16)):

    python scripts/prepare_components.py --ffhq-json ffhq-dataset-v2.json --out components.json [--scale 0.5]

From any folder of aligned faces, with facexlib's landmark detector (AWing FAN, 98 points -> 68):

    python scripts/prepare_components.py --faces datasets/my_faces_512 --out components.json \
        [--landmark-weights alignment_WFLW_4HG.pth] [--device cpu]

The weights are looked for at --landmark-weights, $GFPGAN_WEIGHTS_DIR, experiments/pretrained_models and
facexlib/weights; nothing is downloaded.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from gfpgan.data.components import components_from_68_landmarks, save_components  # noqa: E402
from gfpgan.data.image_io import list_images, read_image  # noqa: E402

LANDMARK_WEIGHTS = "alignment_WFLW_4HG.pth"
LANDMARK_URL = "https://github.com/xinntao/facexlib/releases/download/v0.1.0/alignment_WFLW_4HG.pth"


def from_ffhq_json(json_path: str, scale: float, min_half_len: float) -> dict:
    """FFHQ ``ffhq-dataset-v2.json`` -> components keyed by '%08d' (the FFHQ index = file stem of prepare_ffhq.py)."""
    data = json.loads(Path(json_path).read_text())
    out = {}
    for key, item in tqdm(data.items(), desc="landmarks", unit="img"):
        points = np.asarray(item["image"]["face_landmarks"], dtype=np.float64)
        out[f"{int(key):08d}"] = components_from_68_landmarks(points, scale, min_half_len)
    return out


def find_landmark_weights(explicit: str | None) -> str:
    candidates = [explicit] if explicit else []
    if os.environ.get("GFPGAN_WEIGHTS_DIR"):
        candidates.append(os.path.join(os.environ["GFPGAN_WEIGHTS_DIR"], LANDMARK_WEIGHTS))
    candidates += [os.path.join("experiments", "pretrained_models", LANDMARK_WEIGHTS),
                   os.path.join("facexlib", "weights", LANDMARK_WEIGHTS)]  # fmt: skip
    for path in candidates:
        if path and os.path.isfile(path):
            return path
    raise SystemExit(
        f"facexlib landmark weights {LANDMARK_WEIGHTS} not found (looked at: {', '.join(c for c in candidates if c)}). "
        f"Download {LANDMARK_URL} and pass --landmark-weights PATH."
    )


def from_faces(folder: str, weights: str, device: str, min_half_len: float, size_ref: int) -> dict:
    """Detect 98 landmarks per aligned face with facexlib's FAN, convert to 68, apply the official rule."""
    import torch
    from facexlib.alignment import FAN, landmark_98_to_68

    model = FAN(num_modules=4, num_landmarks=98, device=device)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state.get("state_dict", state), strict=True)
    model.eval().to(device)
    out = {}
    for path in tqdm(list_images(folder), desc="landmarks", unit="img"):
        img = np.clip(read_image(path) * 255 + 0.5, 0, 255).astype(np.uint8)  # BGR, as facexlib expects
        with torch.no_grad():
            points98 = model.get_landmarks(img)
        # the 16 px floor of the official rule is for 512 px faces; scale it with the image
        floor = min_half_len * img.shape[1] / size_ref
        out[Path(path).stem] = components_from_68_landmarks(landmark_98_to_68(points98), 1.0, floor)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ffhq-json", help="FFHQ ffhq-dataset-v2.json")
    source.add_argument("--faces", help="folder of aligned faces (landmarks detected with facexlib)")
    parser.add_argument("--out", required=True, help="output JSON")
    parser.add_argument("--scale", type=float, default=0.5, help="landmark scale for --ffhq-json (0.5: 1024 -> 512)")
    parser.add_argument("--min-half-len", type=float, default=16.0, help="smallest half box size (at 512 px)")
    parser.add_argument("--landmark-weights", help=f"path of {LANDMARK_WEIGHTS}")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.ffhq_json:
        comps = from_ffhq_json(args.ffhq_json, args.scale, args.min_half_len)
    else:
        comps = from_faces(args.faces, find_landmark_weights(args.landmark_weights), args.device, args.min_half_len,
                           512)  # fmt: skip
    save_components(comps, args.out)
    print(f"wrote components of {len(comps)} images to {args.out}")


if __name__ == "__main__":
    main()
