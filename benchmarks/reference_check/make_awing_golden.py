"""Record tests/data/golden_awing.npz from facexlib's AWing FAN and its ``get_landmarks`` (the LMD pipeline).

Run in the reference environment (facexlib installed), from the repository root:

    python benchmarks/reference_check/make_awing_golden.py

The network is facexlib's ``FAN(num_modules=4, num_landmarks=98)`` (what ``init_alignment_model('awing_fan')``
builds) with deterministic stand-in weights: ``fill_state`` of tests/unit/lmd_inputs.py (one numpy Generator seeded
with ``SEED`` walks the state-dict keys in sorted order; BatchNorm running statistics non-trivial; eval mode). The
tests rebuild the same weights from the same recipe, so no weights are stored. The images are ``golden_images()`` of
the same module (RGB); each is given to ``get_landmarks`` as BGR (``img[..., ::-1]``), as ``cv2.imread`` returns it in
the published LMD scripts (TencentARC/VQFR metric_paper/calculate_landmark_distance.py, ohayonguy/PMRF
evaluation/calculate_landmark_distance.py).

Stored (all small): the state-dict listing ``name:shape`` in order, the landmarks ``get_landmarks`` returns, the
last stack's heatmaps for the channels HEATMAP_CHANNELS (98 is the boundary map), per-channel means and absolute
maxima of all four stacks, the argmax of each landmark heatmap, the scripts' per-image distance between images 0
(ground truth) and 1 (restored), and the decoding alone (``calculate_points`` and the scale to image pixels) on the
constructed heatmaps of DECODE_CASES.
When gfpgan is importable too, our network is run on the same weights and inputs and the largest differences printed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "unit"))
sys.path.insert(0, str(REPO))  # our gfpgan, not an installed GFPGAN package, for the optional comparison
from lmd_inputs import DECODE_CASES, IMAGE_SIZES, SEED, decode_heatmaps, fill_state, golden_images  # noqa: E402

HEATMAP_CHANNELS = (0, 60, 97, 98)
OUT = REPO / "tests" / "data" / "golden_awing.npz"


def neighbour_margin(heatmaps: np.ndarray) -> float:
    """Smallest |right - left| and |below - above| neighbour difference at the argmax, relative to the heatmap's
    largest magnitude: how far the quarter-pixel shifts are from flipping sign (interior argmaxes only)."""
    n, num, h, w = heatmaps.shape
    flat = heatmaps.reshape(n * num, h * w)
    idx = flat.argmax(axis=1)
    scale = np.abs(flat).max(axis=1)
    rows = np.arange(n * num)
    margins = []
    for i, (r, k) in enumerate(zip(rows, idx)):
        for step in (1, w):
            if step <= k < h * w - step:
                margins.append(abs(flat[r, k + step] - flat[r, k - step]) / scale[i])
    return float(min(margins))


def main() -> None:
    import facexlib
    from facexlib.alignment.awing_arch import FAN, calculate_points

    if not hasattr(np, "float"):  # facexlib's calculate_points uses np.float, removed in numpy 1.24
        np.float = float  # type: ignore[attr-defined]
    torch.set_num_threads(2)

    model = FAN(num_modules=4, num_landmarks=98, device="cpu")
    model.load_state_dict(fill_state(model.state_dict()), strict=True)
    model.eval()
    captured: list[list[torch.Tensor]] = []
    forward = model.forward  # get_landmarks calls self.forward directly (no hooks run): record through a wrapper

    def recording_forward(x: torch.Tensor):
        outputs, boundaries = forward(x)
        captured.append([t.detach().clone() for t in outputs])
        return outputs, boundaries

    model.forward = recording_forward

    images = golden_images()
    landmarks = []
    with torch.no_grad():
        for img in images:
            landmarks.append(np.asarray(model.get_landmarks(np.ascontiguousarray(img[..., ::-1])), dtype=np.float64))
    landmarks_arr = np.stack(landmarks)
    stacks = [torch.cat(c) for c in zip(*captured)]  # per stack (N,99,64,64)
    last = stacks[-1].numpy()
    per_stack = torch.stack(stacks, dim=1).double()  # (N,4,99,64,64)
    # the published scripts' per-image value: np.sqrt(((gt - pred) ** 2).sum(1)).mean()
    lmd_01 = float(np.sqrt(((landmarks_arr[0] - landmarks_arr[1]) ** 2).sum(1)).mean())

    out = {
        "about": np.array(
            f"facexlib {facexlib.__version__} FAN(num_modules=4, num_landmarks=98).get_landmarks on BGR images; "
            "weights fill_state(seed) and images golden_images(seed) of tests/unit/lmd_inputs.py; "
            "recipe in benchmarks/reference_check/make_awing_golden.py"
        ),
        "seed": np.array(SEED),
        "keys": np.array([f"{k}:{tuple(v.shape)}" for k, v in model.state_dict().items()]),
        "image_sizes": np.array(IMAGE_SIZES),
        "landmarks": landmarks_arr,
        "heatmap_channels": np.array(HEATMAP_CHANNELS),
        "heatmaps": last[:, list(HEATMAP_CHANNELS)].astype(np.float32),
        "stack_mean": per_stack.mean(dim=(3, 4)).numpy(),
        "stack_absmax": per_stack.abs().amax(dim=(3, 4)).numpy(),
        "argmax": last[:, :-1].reshape(len(images), 98, -1).argmax(axis=2),
        "lmd_01": np.array(lmd_01),
    }
    # the decoding alone, on constructed heatmaps (get_landmarks' last steps: calculate_points, then the scale)
    for seed, h, w, kind in DECODE_CASES:
        points = calculate_points(decode_heatmaps(seed, kind)).reshape(-1, 2) * (w / 64, h / 64)
        out[f"decode_{seed}"] = points.astype(np.float64)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes); LMD(0, 1) = {lmd_01:.6f} px")
    print(f"smallest relative neighbour difference at an argmax: {neighbour_margin(last[:, :-1]):.3e}")

    try:
        from gfpgan.archs.awing import FAN as OurFAN
        from gfpgan.metrics.landmark import predict_landmarks
    except ImportError as e:
        print(f"gfpgan not importable here ({e}); skipping the comparison with ours")
        return
    ours = OurFAN()
    ours.load_state_dict(fill_state(ours.state_dict()), strict=True)
    ours.eval()
    points, heatmaps = predict_landmarks(ours, images)
    rel = ((heatmaps - stacks[-1]).abs().max() / stacks[-1].abs().max()).item()
    print(f"ours: max heatmap difference {rel:.3e} (relative to the largest value)")
    print(f"ours: max landmark difference {np.abs(points - landmarks_arr).max():.3e} px")


if __name__ == "__main__":
    main()
