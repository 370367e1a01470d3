"""Benchmark: landmark jitter and face flicker of video restoration with and without temporal smoothing.

A synthetic face (gfpgan.data.synthetic.render_face) moves along a known smooth path (a Lissajous translation plus a
slow +-6 % zoom) in a clip written as PNG frames. Random RetinaFace weights would find no face, so the "detector" is
the true landmarks plus Gaussian noise (sigma in px): exactly what a landmark detector's frame-to-frame error looks
like. The noisy landmarks go through the command line's path (``open_frames`` -> ``restore_frames``: tracking,
smoothing, ``FaceRestorer.enhance``) for each ``--smooth`` method, and for the true landmarks as the floor.

Reported per method:
  d2_px     landmark jitter: RMS of the second difference of the landmark trajectories (pixels)
  err_px    RMS distance of the landmarks used to the true path (pixels; includes the filter's lag)
  crop_mad  mean |difference| of consecutive aligned crops (8-bit levels): the flicker the generator sees
  gen_mad   the same for the restored crops of a seeded random GFPGANv1Clean (out_size 128, narrow 0.25)

    python benchmarks/video_jitter.py                    # 72 frames of 256x256, a big and a small face
    python benchmarks/video_jitter.py --frames 96 --json docs/video_jitter.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gfpgan.data.synthetic import render_face  # noqa: E402
from gfpgan.inference import FaceRestorer, face_template  # noqa: E402
from gfpgan.video import SMOOTHING_METHODS, SmoothingOptions, open_frames, restore_frames  # noqa: E402

TEXTURE_SIZE = 256


def face_path(num_frames: int, frame_size: int, face_px: float) -> tuple[np.ndarray, np.ndarray]:
    """The true motion: (T,2,3) similarity transforms texture -> frame and the (T,5,2) true landmarks.

    The face (``face_px`` = side of its aligned crop) sweeps a Lissajous curve of amplitude 0.15 / 0.06 face sizes
    (1.5 and 1 periods over the clip) and zooms by +-6 % (one period), centred in the frame.
    """
    t = np.arange(num_frames) / num_frames
    scale = face_px / TEXTURE_SIZE * (1 + 0.06 * np.sin(2 * np.pi * t))
    cx = frame_size / 2 + 0.15 * face_px * np.sin(2 * np.pi * 1.5 * t)
    cy = frame_size / 2 + 0.06 * face_px * np.cos(2 * np.pi * t)
    centre = TEXTURE_SIZE / 2
    affines = np.zeros((num_frames, 2, 3))
    affines[:, 0, 0] = affines[:, 1, 1] = scale
    affines[:, 0, 2] = cx - scale * centre
    affines[:, 1, 2] = cy - scale * centre
    template = face_template(TEXTURE_SIZE).astype(np.float64)  # the synthetic face follows FFHQ's layout
    landmarks = np.einsum("tij,kj->tki", affines[:, :, :2], template) + affines[:, None, :, 2]
    return affines, landmarks


def write_clip(folder: Path, num_frames: int, frame_size: int, face_px: float, seed: int = 0) -> np.ndarray:
    """Write the clip as ``folder/%04d.png`` (lossless, so the measurement sees no codec noise); returns the true
    landmarks (T,5,2)."""
    texture, _ = render_face(np.random.default_rng([seed, 0]), TEXTURE_SIZE)
    affines, landmarks = face_path(num_frames, frame_size, face_px)
    folder.mkdir(parents=True, exist_ok=True)
    for i, affine in enumerate(affines):
        frame = cv2.warpAffine(texture, affine, (frame_size, frame_size), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
        cv2.imwrite(str(folder / f"{i:04d}.png"), frame)
    return landmarks


def jitter(trajectory: np.ndarray) -> float:
    """RMS of the second temporal difference of (T,5,2) landmarks, pixels."""
    return float(np.sqrt((np.diff(trajectory, 2, axis=0) ** 2).sum(-1).mean()))


def mean_abs_change(crops: list[np.ndarray]) -> float:
    """Mean |crop[t+1] - crop[t]| over the clip, in 8-bit levels."""
    changes = [np.abs(b.astype(np.float32) - a.astype(np.float32)).mean() for a, b in zip(crops, crops[1:])]
    return float(np.mean(changes))


def measure(folder: Path, truth: np.ndarray, sigma_px: float, method: str | None, restorer: FaceRestorer, seed: int):
    """Run the command line's frame path on ``folder``; ``method`` None = the true landmarks (no noise)."""
    rng = np.random.default_rng(seed)
    noisy = truth + (0 if method is None else rng.normal(0, sigma_px, truth.shape))

    def detector(image: np.ndarray, index: int) -> list[np.ndarray]:
        return [noisy[index].astype(np.float32)]

    source = open_frames(folder, fps=25)
    options = SmoothingOptions(method=method or "none")
    used, crops, restored = [], [], []
    for result in restore_frames(restorer, source, source.fps, options, detector):
        used.append(result.landmarks[0])
        crops.append(result.cropped[0])
        restored.append(result.restored[0])
    used = np.stack(used).astype(np.float64)
    return {
        "d2_px": jitter(used),
        "err_px": float(np.sqrt(((used - truth) ** 2).sum(-1).mean())),
        "crop_mad": mean_abs_change(crops),
        "gen_mad": mean_abs_change(restored),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=72)
    p.add_argument("--size", type=int, default=256, help="frame side, px")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    from gfpgan.archs.gfpgan import GFPGANv1Clean

    net = GFPGANv1Clean(out_size=128, channel_multiplier=1, narrow=0.25, input_is_latent=True, different_w=True,
                        sft_half=True)  # fmt: skip
    restorer = FaceRestorer(net=net, device="cpu", upscale=1, use_parse=False, seed=args.seed)
    # (face crop side px, detection noise sigma px): a big and a small face, the same relative noise.
    scenarios = {"big face": (160.0, 2.0), "small face": (64.0, 0.8)}
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (face_px, sigma) in scenarios.items():
            folder = Path(tmp) / name.replace(" ", "_")
            truth = write_clip(folder, args.frames, args.size, face_px, args.seed)
            rows = {"true landmarks": measure(folder, truth, sigma, None, restorer, args.seed)}
            for method in SMOOTHING_METHODS:
                rows[method] = measure(folder, truth, sigma, method, restorer, args.seed)
            results[f"{name} ({face_px:g} px crop, sigma {sigma:g} px)"] = rows

    defaults = SmoothingOptions()
    print(f"{args.frames} frames {args.size}x{args.size} at 25 fps; one-euro min_cutoff {defaults.min_cutoff} Hz, "
          f"beta {defaults.beta}, savgol window {defaults.window}\n")  # fmt: skip
    for scenario, rows in results.items():
        print(f"{scenario}\n")
        print("| landmarks | jitter d2 (px) | error to path (px) | aligned crop change | restored crop change |")
        print("|---|---:|---:|---:|---:|")
        for method, r in rows.items():
            print(f"| {method} | {r['d2_px']:.2f} | {r['err_px']:.2f} | {r['crop_mad']:.2f} | {r['gen_mad']:.2f} |")
        print()
    if args.json is not None:
        args.json.write_text(json.dumps({"frames": args.frames, "size": args.size, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
