# ruff: noqa: E402  (imports follow the path set-up and the patches on purpose)
"""The reference side of the benchmark harness: run by the reference interpreter (/tmp/refvenv/bin/python, see
../shared/reference/setup-reference-env.sh), it imports only the reference stack (basicsr, gfpgan 1.3.8, lpips,
pytorch-fid) and answers the harness's JSON protocol (benchmarks/harness.py) on stdin/stdout.

    /tmp/refvenv/bin/python benchmarks/reference_worker.py CONFIG_JSON MODE

Never imported by the project. It runs from a temporary directory with no PYTHONPATH, so the only project folder on
its path is benchmarks/ itself (no package of that name there): the reference packages are the only ``gfpgan`` and
``basicsr`` it can see.
"""

import json
import sys
import time

import torch
import torch.nn.functional as F

cfg = json.loads(sys.argv[1])
mode = sys.argv[2]
torch.set_num_threads(cfg["threads"])
device = torch.device(cfg["device"])


from reference_patches import patch_float_betas, patch_fused_act  # noqa: E402  (this file's folder)

patch_fused_act()


def load_our_weights(nets: dict, ema) -> None:
    """Load the state dicts our worker saved (``weights``) into the reference networks; the EMA copies G."""
    if weights is None:
        return
    for key, net in nets.items():
        try:
            net.load_state_dict(weights[key], strict=True)
            loaded.append(key)
        except Exception as e:
            print(f"weights {key}: not loaded ({type(e).__name__})", file=sys.stderr)
    ema.load_state_dict(nets["net_g"].state_dict())


def sync():
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak():  # the process's own peak RSS (VmHWM; ru_maxrss would include the harness's size at fork)
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024


def batch(n, size):
    g = torch.Generator().manual_seed(0)
    coarse = torch.rand(n, 3, max(size // 16, 2), max(size // 16, 2), generator=g) * 2 - 1
    gt = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)
    lq = (gt + 0.1 * torch.randn(gt.shape, generator=g)).clamp(-1, 1)
    return lq.to(device), gt.to(device)


base = peak()
weights = torch.load(cfg["load_weights"]) if cfg.get("load_weights") else None
loaded = []
value = {}
torch.manual_seed(0)
if mode == "infer":
    from gfpgan.archs.gfpganv1_clean_arch import GFPGANv1Clean

    net = (
        GFPGANv1Clean(
            out_size=cfg["out_size"],
            num_style_feat=512,
            channel_multiplier=cfg["channel_multiplier"],
            decoder_load_path=None,
            fix_decoder=False,
            num_mlp=8,
            input_is_latent=True,
            different_w=True,
            narrow=cfg["narrow"],
            sft_half=True,
        )
        .eval()
        .to(device)
    )
    if weights is not None:
        net.load_state_dict(weights, strict=True)
        loaded.append("net_g")
    x, _ = batch(cfg["batch"], cfg["out_size"])

    def call():
        with torch.no_grad():
            net(x, return_rgb=False, randomize_noise=False)
elif mode == "metric":  # the reference computation of each metric, on the images and weight files ours uses
    import os
    import warnings

    import numpy as np

    name, size, count = cfg["metric"], cfg["out_size"], cfg["images"]
    rng = np.random.default_rng(0)  # the same pairs as build_ours_metric
    gts = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(count)]
    imgs = [np.clip(g.astype(np.int16) + rng.integers(-20, 21, g.shape), 0, 255).astype(np.uint8) for g in gts]

    def batch01(images):  # (H,W,3) uint8 RGB list -> (N,3,H,W) float in [0,1]
        return torch.stack([torch.from_numpy(i).permute(2, 0, 1) for i in images]).float().div(255.0).to(device)

    if name in ("psnr", "ssim"):
        from basicsr.metrics.psnr_ssim import calculate_psnr, calculate_ssim

        fn = calculate_psnr if name == "psnr" else calculate_ssim

        def call():
            value["v"] = float(
                np.mean([fn(i, g, crop_border=0, input_order="HWC", test_y_channel=False) for i, g in zip(imgs, gts)])
            )
    elif name == "niqe":
        from basicsr.metrics.niqe import calculate_niqe

        def call():  # BasicSR takes BGR (its Y conversion is bgr2ycbcr)
            value["v"] = float(
                np.mean([calculate_niqe(i[..., ::-1], crop_border=0, input_order="HWC", convert_to="y") for i in imgs])
            )
    elif name == "lpips":
        import lpips

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False).eval().to(device)
        model.load_state_dict(torch.load(os.path.join(cfg["tmp"], "lpips_vgg_random.pth")))
        loaded.append("lpips")

        def call():
            with torch.no_grad():
                a, b = batch01(imgs) * 2 - 1, batch01(gts) * 2 - 1
                value["v"] = float(model(a, b).mean())
    elif name == "fid":
        import pytorch_fid.inception as pfi
        from pytorch_fid.fid_score import calculate_frechet_distance

        state = torch.load(os.path.join(cfg["tmp"], "fid_inception_random.pth"))
        state.setdefault("fc.weight", torch.zeros(1008, 2048))  # the classifier pytorch-fid's file also holds;
        state.setdefault("fc.bias", torch.zeros(1008))  # unused by the pool3 features
        pfi.load_state_dict_from_url = lambda *a, **k: state  # our seeded weights instead of the download
        model = pfi.InceptionV3([3]).eval().to(device)
        loaded.append("fid")

        def features(images):
            with torch.no_grad():
                return model(batch01(images))[0].flatten(1).double().cpu().numpy()

        def call():
            a, b = features(imgs), features(gts)
            value["v"] = float(
                calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
            )
    elif name == "deg":
        from gfpgan.archs.arcface_arch import ResNetArcFace
        from gfpgan.models.gfpgan_model import GFPGANModel

        arc = ResNetArcFace(block="IRBlock", layers=[2, 2, 2, 2], use_se=False)
        arc.load_state_dict(torch.load(os.path.join(cfg["tmp"], "arcface_random.pth")))
        loaded.append("deg")
        arc = arc.eval().to(device)

        def call():  # the identity loss's input preparation, then the angle in degrees
            with torch.no_grad():
                emb = [
                    arc(GFPGANModel.gray_resize_for_identity(None, batch01(s) * 2 - 1)).double() for s in (imgs, gts)
                ]
            cos = (F.normalize(emb[0], dim=1) * F.normalize(emb[1], dim=1)).sum(1).clamp(-1, 1)
            value["v"] = float(torch.rad2deg(torch.arccos(cos)).mean())
    elif name == "lmd":  # VQFR's / PMRF's calculate_landmark_distance.py: facexlib FAN.get_landmarks per image
        from facexlib.alignment.awing_arch import FAN

        if not hasattr(np, "float"):  # facexlib's calculate_points uses np.float (removed in numpy 1.24)
            np.float = float
        fan = FAN(num_modules=4, num_landmarks=98, device=str(device))
        fan.load_state_dict(torch.load(os.path.join(cfg["tmp"], "awing_random.pth")), strict=True)
        fan = fan.eval().to(device)
        loaded.append("lmd")

        def call():  # the scripts read BGR with cv2.imread: get_landmarks flips it to RGB itself
            with torch.no_grad():
                dists = []
                for i, g in zip(imgs, gts):
                    a, b = (
                        fan.get_landmarks(np.ascontiguousarray(g[..., ::-1])),
                        fan.get_landmarks(np.ascontiguousarray(i[..., ::-1])),
                    )
                    dists.append(np.sqrt(((a - b) ** 2).sum(axis=1)).mean())
            value["v"] = float(np.mean(dists))
    else:
        raise SystemExit(f"reference worker: unknown metric {name!r}")
elif mode == "stylegan2":  # BasicSR's StyleGAN2Model, the options of options/train_stylegan2.yml at this size
    import random

    from basicsr.models.stylegan2_model import StyleGAN2Model

    patch_float_betas()
    size, cm, narrow = cfg["out_size"], cfg["channel_multiplier"], cfg["narrow"]
    opt = {
        "is_train": True, "dist": False, "num_gpu": 1 if device.type == "cuda" else 0, "rank": 0, "world_size": 1,
        "network_g": {"type": "StyleGAN2Generator", "out_size": size, "num_style_feat": 512, "num_mlp": 8,
                      "channel_multiplier": cm, "resample_kernel": [1, 3, 3, 1], "lr_mlp": 0.01, "narrow": narrow},
        "network_d": {"type": "StyleGAN2Discriminator", "out_size": size, "channel_multiplier": cm,
                      "resample_kernel": [1, 3, 3, 1], "narrow": narrow},
        "path": {"pretrain_network_g": None, "pretrain_network_d": None},
        "val": {},
        "train": {
            "optim_g": {"type": "Adam", "lr": 2e-3}, "optim_d": {"type": "Adam", "lr": 2e-3},
            "scheduler": {"type": "MultiStepLR", "milestones": [600000], "gamma": 0.5},
            "total_iter": 800000, "warmup_iter": -1,
            "gan_opt": {"type": "GANLoss", "gan_type": "wgan_softplus", "loss_weight": 1.0},
            "r1_reg_weight": 10, "path_batch_shrink": 2, "path_reg_weight": 2, "net_g_reg_every": 4,
            "net_d_reg_every": 16, "mixing_prob": 0.9,
        },
    }  # fmt: skip
    model = StyleGAN2Model(opt)
    load_our_weights({"net_g": model.net_g, "net_d": model.net_d}, model.net_g_ema)
    _, gt = batch(cfg["batch"], size)
    it = int(cfg["iter"])
    random.seed(0)

    def call():
        model.feed_data({"gt": gt.clone()})
        model.optimize_parameters(it)

else:
    import basicsr.archs.vgg_arch as vgg_arch
    import torchvision.models as tvm

    vgg_arch.vgg.vgg19 = lambda pretrained=False, **kw: tvm.vgg19(weights=None)  # random VGG, no download
    from gfpgan.models.gfpgan_model import GFPGANModel

    patch_float_betas()
    size, cm, narrow = cfg["out_size"], cfg["channel_multiplier"], cfg["narrow"]
    opt = {
        "is_train": True,
        "dist": False,
        "num_gpu": 1 if device.type == "cuda" else 0,
        "rank": 0,
        "world_size": 1,
        "network_g": {
            "type": "GFPGANv1",
            "out_size": size,
            "num_style_feat": 512,
            "channel_multiplier": cm,
            "resample_kernel": [1, 3, 3, 1],
            "decoder_load_path": None,
            "fix_decoder": True,
            "num_mlp": 8,
            "lr_mlp": 0.01,
            "input_is_latent": True,
            "different_w": True,
            "narrow": narrow,
            "sft_half": True,
        },
        "network_d": {
            "type": "StyleGAN2Discriminator",
            "out_size": size,
            "channel_multiplier": cm,
            "resample_kernel": [1, 3, 3, 1],
            "narrow": narrow,
        },
        "network_d_left_eye": {"type": "FacialComponentDiscriminator"},
        "network_d_right_eye": {"type": "FacialComponentDiscriminator"},
        "network_d_mouth": {"type": "FacialComponentDiscriminator"},
        "network_identity": {"type": "ResNetArcFace", "block": "IRBlock", "layers": [2, 2, 2, 2], "use_se": False},
        "path": {"pretrain_network_g": None, "pretrain_network_d": None, "pretrain_network_identity": None},
        "train": {
            "optim_g": {"type": "Adam", "lr": 2e-3},
            "optim_d": {"type": "Adam", "lr": 2e-3},
            "optim_component": {"type": "Adam", "lr": 2e-3},
            "scheduler": {"type": "MultiStepLR", "milestones": [600000, 700000], "gamma": 0.5},
            "total_iter": 800000,
            "warmup_iter": -1,
            "pixel_opt": {"type": "L1Loss", "loss_weight": 0.1, "reduction": "mean"},
            "L1_opt": {"type": "L1Loss", "loss_weight": 1, "reduction": "mean"},
            "pyramid_loss_weight": 1,
            "remove_pyramid_loss": 50000,
            "perceptual_opt": {
                "type": "PerceptualLoss",
                "layer_weights": {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1, "conv4_4": 1, "conv5_4": 1},
                "vgg_type": "vgg19",
                "use_input_norm": True,
                "perceptual_weight": 1.0,
                "style_weight": 50,
                "range_norm": True,
                "criterion": "l1",
            },
            "gan_opt": {"type": "GANLoss", "gan_type": "wgan_softplus", "loss_weight": 0.1},
            "r1_reg_weight": 10,
            "gan_component_opt": {
                "type": "GANLoss",
                "gan_type": "vanilla",
                "real_label_val": 1.0,
                "fake_label_val": 0.0,
                "loss_weight": 1.0,
            },
            "comp_style_weight": 200,
            "identity_weight": 10,
            "net_d_iters": 1,
            "net_d_init_iters": 0,
            "net_d_reg_every": 16,
        },
    }
    import builtins

    import gfpgan.models.gfpgan_model as gm
    from basicsr.archs import build_network  # noqa: F401  (registers the archs)

    import gfpgan.archs  # noqa: F401

    gm.int = lambda v: 1 if 0 < v < 1 else builtins.int(v)  # face_ratio int(size/512) = 0 below 512: use 1
    model = GFPGANModel(opt)
    load_our_weights(
        {
            "net_g": model.net_g,
            "net_d": model.net_d,
            "identity": model.network_identity,
            "net_d_left_eye": model.net_d_left_eye,
            "net_d_right_eye": model.net_d_right_eye,
            "net_d_mouth": model.net_d_mouth,
        },
        model.net_g_ema,
    )
    lq, gt = batch(cfg["batch"], size)
    scale = size / 512
    boxes = {"left_eye": (150, 210, 230, 290), "right_eye": (282, 210, 362, 290), "mouth": (196, 330, 316, 450)}
    data = {"lq": lq, "gt": gt}
    for part, box in boxes.items():
        data[f"loc_{part}"] = torch.tensor([box], dtype=torch.float32).mul(scale).repeat(cfg["batch"], 1)
    it = int(cfg["iter"])

    def call():  # fed each time: optimize_parameters keeps graph-bearing tensors (e.g. gt after R1) on the model
        model.feed_data({k: v.clone() for k, v in data.items()})
        model.optimize_parameters(it)


print(json.dumps({"ready": True, "maxrss_after_build_mib": peak(), "maxrss_import_mib": base, "loaded": loaded}))
sys.stdout.flush()
for line in sys.stdin:
    request = json.loads(line)
    if request["cmd"] == "time":
        sync()
        start = time.perf_counter()
        call()
        sync()
        reply = {"s": time.perf_counter() - start}
    elif request["cmd"] == "flops":
        from torch.utils.flop_counter import FlopCounterMode

        try:
            with FlopCounterMode(display=False) as counter:
                call()
            reply = {"flops": int(counter.get_total_flops())}
        except RuntimeError:
            reply = {"flops": None}
    else:
        reply = {"maxrss_mib": peak(), "loaded": loaded, **({"value": value["v"]} if "v" in value else {})}
    print(json.dumps(reply), flush=True)
