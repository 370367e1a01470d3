"""Two CPU processes under torchrun (gloo): train, identical parameters across ranks, one writer, resume."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
        str(REPO / "train.py"), "-opt", str(REPO / "options/smoke/train_gfpgan.yml"), "--launcher", "pytorch",
        "--set", "name=ddp", "val=~", "logger.use_tb_logger=false", "logger.save_checkpoint_freq=2", *args,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_two_process_training_and_resume(tmp_path):
    first = torchrun(tmp_path, "train.total_iter=2")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    log = first.stdout + first.stderr
    assert "world size 2" in log and "parameters identical across 2 processes" in log
    exp = tmp_path / "experiments" / "ddp"
    models = sorted(p.name for p in (exp / "models").iterdir())
    assert models.count("net_g_2.pth") == 1 and not [m for m in models if m.startswith(".")]  # one writer, no leftovers
    state = torch.load(exp / "training_states" / "2.state", weights_only=True)
    assert state["world_size"] == 2 and len(state["rng"]) == 2  # every rank's RNG streams are kept

    second = torchrun(tmp_path, "train.total_iter=4", "--auto_resume")
    log = second.stdout + second.stderr
    assert second.returncode == 0, log[-3000:]
    assert "Resumed from" in log and "parameters identical across 2 processes" in log
    assert (exp / "models" / "net_g_4.pth").is_file()
