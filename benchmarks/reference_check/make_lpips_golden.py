"""Write tests/data/metrics_lpips_golden.json: LPIPS v0.1 values of the ``lpips`` package with seeded weights.

Run by a developer in an environment that has the reference ``lpips`` package (0.1.x) and OpenCV, from the repository
root:

    python benchmarks/reference_check/make_lpips_golden.py

The tests (tests/unit/test_metrics_lpips_deg.py) rebuild the same weights and images with our own LPIPSNet and compare
to these numbers, so they never need the package. The recipe, shared with the tests:

* weights: ``seeded_state_dict`` (tests/unit/test_metrics_seeded.py) over the state-dict keys of
  ``lpips.LPIPS(net, version='0.1')`` except ``scaling_layer.*`` (fixed constants, kept) and ``lins.*`` (the same
  parameters as ``lin*``, set equal to them), with seed SEEDS[net]; the linear layers then take their absolute value
  (the published ones are non-negative);
* images: ``seeded_images`` pairs PAIRS, then one image against itself rolled SHIFTED[3] pixels to the right
  (``np.roll(img, shift, axis=1)``); RGB uint8 -> float /255 -> *2-1, scored as ``model(x, y)``.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "unit"))

from test_metrics_seeded import seeded_images, seeded_state_dict  # noqa: E402

SEEDS = {"vgg": 11, "alex": 12}
PAIRS = [(40, 41, 2, 64, 64), (42, 43, 1, 48, 40)]  # (seed a, seed b, count, height, width)
SHIFTED = (44, 64, 64, 2)  # (seed, height, width, shift): an image against itself rolled right, a small distance


def seeded_lpips_state(shapes: dict[str, tuple[int, ...]], seed: int, constants: dict) -> dict[str, torch.Tensor]:
    drawn = {k: s for k, s in shapes.items() if not k.startswith(("scaling_layer.", "lins."))}
    state = seeded_state_dict(drawn, seed=seed)
    for key in list(state):
        if key.startswith("lin"):
            state[key] = state[key].abs()
    for k in range(5):
        state[f"lins.{k}.model.1.weight"] = state[f"lin{k}.model.1.weight"]
    state.update(constants)
    return state


def to_input(imgs: list[np.ndarray]) -> torch.Tensor:
    return torch.stack([torch.from_numpy(i).permute(2, 0, 1) for i in imgs]).float() / 255 * 2 - 1


def main() -> None:
    import lpips

    torch.set_num_threads(1)
    out: dict = {
        "_about": (
            f"lpips {getattr(lpips, '__version__', '0.1.x')} LPIPS(net, version='0.1', pretrained=False, "
            "pnet_rand=True) with seeded weights (recipe in benchmarks/reference_check/make_lpips_golden.py), "
            "model(a*2-1, b*2-1) on seeded image pairs; keys = 'name:shape' of the package's state dict, in order."
        ),
        "seeds": SEEDS,
        "pairs": PAIRS,
        "shifted": SHIFTED,
    }
    for net, seed in SEEDS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = lpips.LPIPS(net=net, version="0.1", pretrained=False, pnet_rand=True, verbose=False).eval()
        reference = model.state_dict()
        shapes = {k: tuple(v.shape) for k, v in reference.items()}
        constants = {k: v.clone() for k, v in reference.items() if k.startswith("scaling_layer.")}
        model.load_state_dict(seeded_lpips_state(shapes, seed, constants))
        values = []
        with torch.no_grad():
            for seed_a, seed_b, count, h, w in PAIRS:
                a, b = seeded_images(seed_a, count, h, w), seeded_images(seed_b, count, h, w)
                values += model(to_input(a), to_input(b)).flatten().double().tolist()
            a = seeded_images(SHIFTED[0], 1, SHIFTED[1], SHIFTED[2])
            b = [np.roll(a[0], SHIFTED[3], axis=1)]
            values += model(to_input(a), to_input(b)).flatten().double().tolist()
        out[net] = {
            "keys": [f"{k}:{tuple(v.shape)}" for k, v in reference.items()],
            "scaling_layer": {k: v.flatten().tolist() for k, v in constants.items()},
            "values": values,
        }
        print(net, values)
    path = REPO / "tests" / "data" / "metrics_lpips_golden.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
