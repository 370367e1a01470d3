"""Convert GFPGANBilinear weights to the GFPGANv1Clean layout (numerically equivalent; see gfpgan/archs/convert.py).

    python scripts/convert_bilinear_to_clean.py --source-arch bilinear --input net_g_ema.pth \\
        --output GFPGANClean_converted.pth --out-size 512 --channel-multiplier 2 --narrow 1 [--verify]

GFPGANv1 ("original", the paper's training arch) weights have the same keys as GFPGANBilinear but are NOT convertible
(FIR blur vs bilinear resampling); ``--source-arch original`` is refused with the explanation. The output is written
as ``{"params_ema": ...}`` (what GFPGANer and ``gfpgan.utils.state_dict.read_state_dict`` load).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gfpgan.archs.convert import UnsupportedConversion, convert_bilinear_to_clean  # noqa: E402
from gfpgan.utils.errors import run_main  # noqa: E402
from gfpgan.utils.state_dict import CheckpointError, read_state_dict, save_generator_checkpoint  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source-arch", required=True, choices=["bilinear", "original"], help="arch of the input weights")
    p.add_argument("--input", required=True, type=Path, help="GFPGANBilinear checkpoint (.pth/.safetensors)")
    p.add_argument("--output", required=True, type=Path, help="where to write the GFPGANv1Clean checkpoint")
    p.add_argument("--param-key", default="auto", help="entry to read: auto (params_ema, then params), or a key")
    p.add_argument("--out-size", type=int, default=512)
    p.add_argument("--channel-multiplier", type=int, default=2)
    p.add_argument("--narrow", type=float, default=1.0)
    p.add_argument("--lr-mlp", type=float, default=0.01, help="lr_mlp the bilinear model was built with")
    p.add_argument(
        "--verify", action="store_true", help="build both archs and check their outputs agree (random input)"
    )
    return p.parse_args(argv)


def _structure_from_state(state: dict[str, torch.Tensor]) -> dict:
    """num_style_feat, num_mlp, different_w and sft_half as stored in a GFPGANBilinear state dict."""
    num_style_feat = state["stylegan_decoder.style_conv1.modulated_conv.modulation.weight"].shape[1]
    num_mlp = sum(1 for k in state if k.startswith("stylegan_decoder.style_mlp.") and k.endswith(".weight"))
    unet_channels = state["toRGB.0.weight"].shape[1]
    if "condition_scale.0.2.weight" in state:
        modulation = "cs-sft" if state["condition_scale.0.2.weight"].shape[0] == unet_channels else "sft"
    else:
        modulation = "none"
    return dict(
        num_style_feat=num_style_feat,
        num_mlp=num_mlp,
        different_w=state["final_linear.weight"].shape[0] != num_style_feat,
        modulation=modulation,
        input_is_latent=True,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.source_arch == "original":
            convert_bilinear_to_clean({}, source_arch="original")  # raises with the explanation
        state = read_state_dict(args.input, args.param_key)
        clean = convert_bilinear_to_clean(state, args.narrow, args.channel_multiplier, lr_mlp=args.lr_mlp)
    except (UnsupportedConversion, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.verify:
        from gfpgan.archs.gfpgan import GFPGANBilinear, GFPGANv1Clean
        from gfpgan.utils.state_dict import load_weights

        common = dict(
            out_size=args.out_size,
            channel_multiplier=args.channel_multiplier,
            narrow=args.narrow,
            fix_decoder=False,
            **_structure_from_state(state),
        )
        try:
            src = load_weights(GFPGANBilinear(**common, lr_mlp=args.lr_mlp), state).eval()
            dst = load_weights(GFPGANv1Clean(**common), clean).eval()
        except CheckpointError as e:
            print(f"error: --verify could not build the models from the given options: {e}", file=sys.stderr)
            return 2
        x = torch.rand(1, 3, args.out_size, args.out_size, generator=torch.Generator().manual_seed(0)) * 2 - 1
        with torch.no_grad():
            diff = (src(x, randomize_noise=False)[0] - dst(x, randomize_noise=False)[0]).abs().max().item()
        print(f"verify: max |bilinear - clean| = {diff:.3g}")
        if diff > 1e-3:
            print("error: converted weights do not reproduce the bilinear outputs", file=sys.stderr)
            return 1
    save_generator_checkpoint(args.output, params=None, params_ema=clean)
    print(f"wrote {args.output} ({len(clean)} tensors, key params_ema)")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
