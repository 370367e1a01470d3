"""CUDA paths (skipped without a GPU; CI has none): numerics against the CPU, training with AMP/compile, inference.

Run on a GPU machine: python -m pytest -q tests/gpu
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from gfpgan.registry import ARCHS

pytestmark = pytest.mark.gpu
REPO = Path(__file__).resolve().parents[2]
GENERATORS = {
    "GFPGANv1": dict(out_size=64, num_style_feat=64, channel_multiplier=1, narrow=0.25, num_mlp=2,
                     input_is_latent=True, different_w=True, sft_half=True),
    "GFPGANv1Clean": dict(out_size=64, num_style_feat=64, channel_multiplier=2, narrow=0.25, num_mlp=2,
                          input_is_latent=True, different_w=True, sft_half=True),
}  # fmt: skip


@pytest.mark.parametrize("arch", sorted(GENERATORS))
def test_generator_matches_cpu(arch):
    torch.manual_seed(0)
    net = ARCHS.build({"type": arch, **GENERATORS[arch]}, where="network_g").eval()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    torch.backends.cuda.matmul.allow_tf32 = False  # compare float32 with float32, not TF32
    torch.backends.cudnn.allow_tf32 = False
    with torch.no_grad():
        cpu, _ = net(x, randomize_noise=False)
        cuda, _ = net.cuda()(x.cuda(), randomize_noise=False)
    assert (cuda.cpu() - cpu).abs().max() < 1e-4


@pytest.mark.parametrize("arch", sorted(GENERATORS))
def test_generator_bf16_autocast_and_compile(arch):
    torch.manual_seed(0)
    net = ARCHS.build({"type": arch, **GENERATORS[arch]}, where="network_g").cuda().eval()
    x = torch.rand(4, 3, 64, 64, device="cuda") * 2 - 1
    with torch.no_grad():
        ref, _ = net(x, randomize_noise=False)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            low, _ = net(x, randomize_noise=False)
        compiled, _ = torch.compile(net)(x, randomize_noise=False)
    assert torch.isfinite(low).all() and (low.float() - ref).abs().mean() < 0.05
    assert (compiled - ref).abs().max() < 1e-3


SWITCHES = [
    ["train.amp.enabled=true", "train.amp.dtype=bfloat16", "train.channels_last=true"],
    ["train.amp.enabled=true", "train.amp.dtype=float16"],
    ["train.compile=true"],
]


@pytest.mark.parametrize("switches", SWITCHES)
def test_training_on_cuda(tmp_path, monkeypatch, switches):
    from gfpgan.options import load_options
    from gfpgan.train import train

    monkeypatch.chdir(tmp_path)
    opts, report = load_options(
        REPO / "options/smoke/train_gfpgan.yml",
        overrides=["num_gpu=1", "train.total_iter=2", "logger.use_tb_logger=false", "val=~", *switches],
    )
    assert not report.missing_paths
    result = train(opts)
    state = torch.load(result["exp"] / "training_states" / "2.state", weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["nets"]["net_g"].values() if v.is_floating_point())


def test_face_restorer_on_cuda_bf16(tmp_path):
    from gfpgan.inference import FaceRestorer

    torch.manual_seed(0)
    net = ARCHS.build({"type": "GFPGANv1Clean", **GENERATORS["GFPGANv1Clean"]}, where="network_g")
    path = tmp_path / "net_g.pth"
    torch.save({"params_ema": net.state_dict()}, path)
    faces = [np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8) for i in range(3)]
    fp32 = FaceRestorer(model_path=path, device="cuda").restore_faces(faces)
    bf16 = FaceRestorer(model_path=path, device="cuda", dtype=torch.bfloat16).restore_faces(faces)
    for a, b in zip(fp32, bf16):
        assert a.shape == (64, 64, 3) and np.abs(a.astype(int) - b.astype(int)).mean() < 8


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_two_gpu_torchrun_nccl(tmp_path):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", str(REPO / "train.py"), "-opt",
           str(REPO / "options/smoke/train_gfpgan.yml"), "--launcher", "pytorch", "--set", "num_gpu=auto",
           "train.total_iter=2", "logger.use_tb_logger=false", "val=~"]  # fmt: skip
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=dict(os.environ), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "parameters identical across 2 processes" in result.stdout + result.stderr
