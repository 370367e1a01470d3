# ruff: noqa: E402, E731  (imports follow path set-up / monkeypatching on purpose)
"""One GFP-GAN iteration of ours, for the side-by-side check with the official trainer (see reference_step.py).

    mkdir /tmp/cmp && cd /tmp/cmp
    python /path/to/repo/scripts/reference_check/our_step.py make      # random weights, VGG/ArcFace files, a batch
    python /path/to/repo/scripts/reference_check/our_step.py run       # -> ours.json
    /tmp/refvenv/bin/python /path/to/repo/scripts/reference_check/reference_step.py   # -> ref.json
    python /path/to/repo/scripts/reference_check/compare.py            # relative differences

The smoke config at 512 px (so the reference's face_ratio pixel scaling is inactive), every loss on, stored noise,
R1 on (iteration 2 with net_d_reg_every 2), pyramid loss kept. Run in an empty scratch folder.
"""

import functools
import json
import os
import sys

import torch

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
torch.set_num_threads(1)
from gfpgan import train as T
from gfpgan.optim import build_optimizer
from gfpgan.options import load_options
from gfpgan.registry import ARCHS, LOSSES

ov = [
    "network_g.out_size=512",
    "network_d.out_size=512",
    "network_g.narrow=0.0625",
    "network_d.narrow=0.0625",
    "datasets.train.out_size=512",
    "train.perceptual_opt.vgg_weights=" + os.path.abspath("experiments/pretrained_models/vgg19-dcbb9e9d.pth") + "",
    "path.pretrain_network_identity=" + os.path.abspath("arcface.pth"),
    "train.remove_pyramid_loss=~",
]
torch.manual_seed(0)
if sys.argv[1] == "make":
    os.makedirs("experiments/pretrained_models", exist_ok=True)
    import torchvision

    vgg = torchvision.models.vgg19(weights=None)
    torch.save(vgg.state_dict(), "experiments/pretrained_models/vgg19-dcbb9e9d.pth")
    o, _ = load_options(str(REPO / "options/smoke/train_gfpgan.yml"), ov[:5])
    nets = {
        k: ARCHS.build(o[k], k)
        for k in [
            "network_g",
            "network_d",
            "network_d_left_eye",
            "network_d_right_eye",
            "network_d_mouth",
            "network_identity",
        ]
    }
    g = torch.Generator().manual_seed(1)
    for n in nets.values():  # random non-zero values everywhere (biases, noise strengths)
        for t in list(n.parameters()) + [b for b in n.buffers() if b.is_floating_point()]:
            with torch.no_grad():
                t.copy_(torch.randn(t.shape, generator=g) * (0.2 if t.ndim <= 1 else 1.0))
    nets["network_identity"].eval()
    # BN running stats: keep positive variance
    for m in nets["network_identity"].modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_var.abs_().add_(0.5)
    torch.save({k: n.state_dict() for k, n in nets.items()}, "nets.pt")
    torch.save(nets["network_identity"].state_dict(), "arcface.pth")
    b = 2
    gt = torch.rand(b, 3, 512, 512, generator=g) * 2 - 1
    lq = (gt + 0.3 * torch.randn(b, 3, 512, 512, generator=g)).clamp(-1, 1)
    locs = {
        "loc_left_eye": torch.tensor([[180.0, 220.0, 250.0, 290.0], [170.0, 210.0, 245.0, 280.0]]),
        "loc_right_eye": torch.tensor([[270.0, 220.0, 340.0, 290.0], [265.0, 215.0, 335.0, 285.0]]),
        "loc_mouth": torch.tensor([[200.0, 330.0, 320.0, 420.0], [205.0, 325.0, 315.0, 410.0]]),
    }
    torch.save({"lq": lq, "gt": gt, **locs}, "batch.pt")
    sys.exit()

o, _ = load_options(str(REPO / "options/smoke/train_gfpgan.yml"), ov)
sd = torch.load("nets.pt", weights_only=True)
batch = torch.load("batch.pt", weights_only=True)
build = lambda k: ARCHS.build(o[k], k)
g = build("network_g")
g.load_state_dict(sd["network_g"])
ema = build("network_g")
ema.load_state_dict(sd["network_g"])
d = build("network_d")
d.load_state_dict(sd["network_d"])
comps = {}
for p in T.COMPONENTS:
    comps[p] = build(f"network_d_{p}")
    comps[p].load_state_dict(sd[f"network_d_{p}"])
ident = build("network_identity")
ident.load_state_dict(sd["network_identity"])
ident.eval().requires_grad_(False)
nets = T.Nets(g, ema, d, comps, ident)
t = o.train
crit = T.Criteria(
    pixel=LOSSES.build(t.pixel_opt, "p"),
    l1=LOSSES.build(t.L1_opt, "l"),
    perceptual=LOSSES.build(t.perceptual_opt, "pp"),
    gan=LOSSES.build(t.gan_opt, "g"),
    component=LOSSES.build(t.gan_component_opt, "c"),
)
opts = {
    "net_g": build_optimizer(g.parameters(), T._optim_spec(t.optim_g, (0.0, 0.99)), "g"),
    "net_d": build_optimizer(d.parameters(), T._optim_spec(t.optim_d, (0.0, 0.99), t.net_d_reg_every), "d"),
}
for p, n in comps.items():
    opts[f"net_d_{p}"] = build_optimizer(n.parameters(), T._optim_spec(t.optim_component, (0.9, 0.99)), "c")
scaler = torch.amp.GradScaler("cpu", enabled=False)
fwd = functools.partial(g, randomize_noise=False)
step = T.Step(o, crit, opts, scaler, lambda: torch.autocast("cpu", enabled=False), fwd, 512)
boxes = {k: batch[k] for k in ("loc_left_eye", "loc_right_eye", "loc_mouth")}
it = 2  # R1 on (net_d_reg_every 2)
out, crops, glog, _ = T.generator_step(nets, step, batch["lq"], batch["gt"], boxes, it)
T.update_ema(ema, g, t.ema_decay)
dlog, _ = T.discriminator_step(nets, step, out, batch["gt"], crops, it)
res = {k: float(v) for k, v in {**glog, **dlog}.items()}
res["param_g_sum"] = float(sum(p.double().sum() for p in g.parameters()))
res["param_d_sum"] = float(sum(p.double().sum() for p in d.parameters()))
res["param_ema_sum"] = float(sum(p.double().sum() for p in ema.parameters()))
res["param_left_eye_sum"] = float(sum(p.double().sum() for p in comps["left_eye"].parameters()))
json.dump(res, open("ours.json", "w"), indent=1)
print(json.dumps(res, indent=1))
