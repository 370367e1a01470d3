"""Record tests/data/realesrgan_golden.json from the official RRDBNet (basicsr) and SRVGGNetCompact (realesrgan).

Run in the reference environment (``bash ../shared/reference/setup-reference-env.sh`` creates /tmp/refvenv with
basicsr 1.4.2; add ``/tmp/refvenv/bin/pip install --no-deps realesrgan``), from any folder:
``/tmp/refvenv/bin/python benchmarks/reference_check/make_realesrgan_golden.py``.

The networks get seeded weights made from their state-dict keys (``fill_state`` of tests/unit/realesrgan_inputs.py,
shared with the tests: explicit torch.Generator, nothing large is stored). The JSON holds:
- the key / shape listings and parameter counts of the released configurations (23-block RRDBNet x4 and x2,
  realesr-general-x4v3, realesr-animevideov3) and of every small network;
- summaries (shape, mean, mean |x|, 24 values at fixed indices) of each small network's output on a seeded input;
- the official ``RealESRGANer.enhance`` result on seeded uint8 images (pre_pad 0, and tiles without padding: the
  settings in which ours must agree exactly; see gfpgan/upsample.py), as the same summaries.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "unit"))
from realesrgan_inputs import (  # noqa: E402
    NETWORKS,
    PIPELINES,
    RELEASED,
    SEED,
    fill_state,
    fingerprint,
    key_listing,
    network_input,
    pipeline_image,
    summarise,
)


def reference_classes() -> dict:
    from basicsr.archs.rrdbnet_arch import RRDBNet
    from realesrgan.archs.srvgg_arch import SRVGGNetCompact

    return {"RRDBNet": RRDBNet, "SRVGGNetCompact": SRVGGNetCompact}


def seeded(cls, kwargs: dict, salt: int) -> torch.nn.Module:
    net = cls(**kwargs)
    net.load_state_dict(fill_state(net.state_dict(), salt), strict=True)
    return net.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "tests/data/realesrgan_golden.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    from importlib.metadata import version

    from realesrgan import RealESRGANer

    classes = reference_classes()
    golden: dict = {
        "generator": "benchmarks/reference_check/make_realesrgan_golden.py",
        "reference": f"basicsr {version('basicsr')}, realesrgan {version('realesrgan')}, torch {torch.__version__}",
        "seed": SEED,
        "fingerprint": fingerprint(),
        "released": {},
        "networks": {},
        "pipelines": {},
    }
    for name, (cls_name, kwargs) in RELEASED.items():
        with torch.device("meta"):
            net = classes[cls_name](**kwargs)
        golden["released"][name] = {
            "keys": key_listing(net),
            "num_params": sum(p.numel() for p in net.parameters()),
        }
        print(f"{name:22s} {len(golden['released'][name]['keys'])} keys, {golden['released'][name]['num_params']:,}")

    for salt, (name, (cls_name, kwargs, shape)) in enumerate(NETWORKS.items()):
        net = seeded(classes[cls_name], kwargs, salt)
        with torch.no_grad():
            out = net(network_input(shape, salt))
        golden["networks"][name] = {"keys": key_listing(net), "output": summarise(out, 100 + salt)}
        print(f"{name:22s} out {tuple(out.shape)} mean {out.mean():.4f} |x| {out.abs().mean():.4f}")

    net_salts = {name: salt for salt, name in enumerate(NETWORKS)}
    with tempfile.TemporaryDirectory() as tmp:
        for salt, (name, (net_name, hw, opts)) in enumerate(PIPELINES.items()):
            cls_name, kwargs, _ = NETWORKS[net_name]
            net = seeded(classes[cls_name], kwargs, net_salts[net_name])
            path = Path(tmp) / f"{net_name}.pth"
            torch.save({"params_ema": net.state_dict()}, path)
            scale = kwargs.get("scale", kwargs.get("upscale"))
            upsampler = RealESRGANer(scale=scale, model_path=str(path), model=net, half=False, device="cpu", **opts)
            out, mode = upsampler.enhance(pipeline_image(hw, salt), outscale=None)
            golden["pipelines"][name] = summarise(out, 200 + salt) | {"dtype": str(out.dtype), "mode": mode}
            print(f"{name:22s} image {out.shape} {out.dtype} mean {out.mean():.3f}")

    Path(args.out).write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
