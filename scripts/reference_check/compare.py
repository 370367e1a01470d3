"""Print our loss values and parameter checksums beside the reference trainer's (ours.json vs ref.json)."""

import json

ours, ref = json.load(open("ours.json")), json.load(open("ref.json"))
names = {
    "loss/g/pixel": "l_g_pix", "loss/g/perceptual": "l_g_percep", "loss/g/style": "l_g_style", "loss/g/gan": "l_g_gan",
    "loss/g/gan_left_eye": "l_g_gan_left_eye", "loss/g/gan_right_eye": "l_g_gan_right_eye",
    "loss/g/gan_mouth": "l_g_gan_mouth", "loss/g/comp_style": "l_g_comp_style_loss", "loss/g/identity": "l_identity",
    "loss/d/gan": "l_d", "d/real_score": "real_score", "d/fake_score": "fake_score", "loss/d/r1": "l_d_r1",
    "loss/d/left_eye": "l_d_left_eye", "loss/d/right_eye": "l_d_right_eye", "loss/d/mouth": "l_d_mouth",
    **{f"loss/g/pyramid_{s}": f"l_p_{s}" for s in (8, 16, 32, 64, 128, 256, 512)},
    **{k: k for k in ("param_g_sum", "param_d_sum", "param_ema_sum", "param_left_eye_sum")},
}  # fmt: skip
worst = 0.0
for a, b in names.items():
    rel = abs(ours[a] - ref[b]) / max(abs(ref[b]), 1e-12)
    worst = max(worst, rel)
    print(f"{a:24s} ours {ours[a]: .8e}  reference {ref[b]: .8e}  relative difference {rel:.1e}")
print(f"worst relative difference: {worst:.1e}")
