# ruff: noqa: E402, E731  (imports follow path set-up / monkeypatching on purpose)
"""The official trainer's iteration (GFPGANModel.optimize_parameters) on the weights and batch of our_step.py.

Run with the reference environment (../shared/reference/setup-reference-env.sh) in the scratch folder where
our_step.py wrote nets.pt, batch.pt, arcface.pth and experiments/pretrained_models/vgg19-dcbb9e9d.pth. BasicSR's
fused leaky ReLU is a CUDA extension: it is replaced by its formula. Never imported by the project.
"""

import functools
import json

import torch
import yaml

torch.set_num_threads(1)
import basicsr.ops.fused_act.fused_act as fa
import torch.nn.functional as F


class FusedLeakyReLU(torch.nn.Module):
    def __init__(self, channel, negative_slope=0.2, scale=2**0.5):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(channel))
        self.negative_slope, self.scale = negative_slope, scale

    def forward(self, x):
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)


def fused_leaky_relu(x, bias, negative_slope=0.2, scale=2**0.5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return F.leaky_relu(x + bias.view(shape), negative_slope) * scale


import basicsr.archs.stylegan2_arch as sa
import gfpgan.archs.gfpganv1_arch as ga

for mod in (fa, sa, ga):
    if hasattr(mod, "FusedLeakyReLU"):
        mod.FusedLeakyReLU = FusedLeakyReLU
    if hasattr(mod, "fused_leaky_relu"):
        mod.fused_leaky_relu = fused_leaky_relu
from gfpgan.models.gfpgan_model import GFPGANModel

o = yaml.safe_load(
    open(str(__import__("pathlib").Path(__file__).resolve().parents[2] / "options/smoke/train_gfpgan.yml"))
)
for k in ("network_g", "network_d"):
    o[k]["out_size"] = 512
    o[k]["narrow"] = 0.0625
o["train"]["perceptual_opt"].pop("vgg_weights")
o["path"] = {
    "pretrain_network_identity": __import__("os").path.abspath("arcface.pth"),
    "param_key_identity": None,
    "strict_load_identity": True,
}
o.update(is_train=True, dist=False, num_gpu=0, rank=0, world_size=1)
o["path"]["experiments_root"] = "refexp"
o["path"]["models"] = "refexp/models"
o["path"]["training_states"] = "refexp/ts"
o["path"]["log"] = "refexp"
o["path"]["visualization"] = "refexp/vis"
o["train"].pop("remove_pyramid_loss")
o["train"]["optim_g"]["lr"] = float(o["train"]["optim_g"]["lr"])
# Adam with int betas fails on torch 2: the model builds (0**1, 0.99): patch torch.optim.Adam to cast
_Adam = torch.optim.Adam


class Adam(_Adam):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), **kw):
        super().__init__(params, lr=lr, betas=tuple(float(b) for b in betas), **kw)


torch.optim.Adam = Adam

model = GFPGANModel(o)
sd = torch.load("nets.pt", weights_only=True)
model.net_g.load_state_dict(sd["network_g"])
model.net_g_ema.load_state_dict(sd["network_g"])
model.net_d.load_state_dict(sd["network_d"])
model.net_d_left_eye.load_state_dict(sd["network_d_left_eye"])
model.net_d_right_eye.load_state_dict(sd["network_d_right_eye"])
model.net_d_mouth.load_state_dict(sd["network_d_mouth"])
model.net_g.forward = functools.partial(type(model.net_g).forward, model.net_g, randomize_noise=False)
print("d lr", [g["lr"] for g in model.optimizer_d.param_groups], "betas", model.optimizer_d.param_groups[0]["betas"])
batch = torch.load("batch.pt", weights_only=True)
model.feed_data(batch)
model.optimize_parameters(2)
res = {k: float(v) for k, v in model.log_dict.items()}
res["param_g_sum"] = float(sum(p.double().sum() for p in model.net_g.parameters()))
res["param_d_sum"] = float(sum(p.double().sum() for p in model.net_d.parameters()))
res["param_ema_sum"] = float(sum(p.double().sum() for p in model.net_g_ema.parameters()))
res["param_left_eye_sum"] = float(sum(p.double().sum() for p in model.net_d_left_eye.parameters()))
json.dump(res, open("ref.json", "w"), indent=1)
print(json.dumps(res, indent=1))
