"""Two CPU processes under torchrun (gloo): train, identical parameters across ranks, one writer, resume."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
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


@pytest.mark.slow
def test_nan_on_one_rank_skips_the_step_on_every_rank(tmp_path):
    """A NaN on rank 1 only, in G's loss (iteration 2), D's (3) and the left-eye D's (4): every rank skips the same
    step, the collectives stay paired, training goes on and the replicas stay identical (checked at each save)."""
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
        str(REPO / "tests" / "integration" / "ddp_nan_injection.py"), "-opt",
        str(REPO / "options/smoke/train_gfpgan.yml"), "--launcher", "pytorch", "--set", "name=ddp_nan", "val=~",
        "logger.use_tb_logger=false", "logger.save_checkpoint_freq=1", "logger.keep_checkpoints=~",
        "train.total_iter=5", "dist_params.timeout_minutes=2",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "GFPGAN_NAN_AT": "2:g,3:d,4:left_eye"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    for it, term in ((2, "loss/g/pixel"), (3, "loss/d/gan"), (4, "loss/d/left_eye")):
        assert f"Iteration {it}: non-finite loss on rank 1 ({term}" in log, log[-4000:]
        assert f"Iteration {it}: non-finite loss on another process (rank 0: all finite)" in log
    assert log.count("parameters identical across 2 processes") >= 2  # the saves after the skipped steps
    exp = tmp_path / "experiments" / "ddp_nan"
    states = sorted(int(p.stem) for p in (exp / "training_states").glob("*.state"))
    assert states == [1, 5]  # nothing saved while the non-finite streak lasted; iteration 5 was finite again
    # Each network skipped exactly its poisoned step, on both ranks: count the optimizer steps taken in 5 iterations.
    state = torch.load(exp / "training_states" / "5.state", weights_only=True)
    steps = {k: next(iter(o["state"].values()))["step"].item() for k, o in state["optimizers"].items()}
    assert steps == {"net_g": 4, "net_d": 4, "net_d_left_eye": 4, "net_d_right_eye": 5, "net_d_mouth": 5}, steps


def test_a_hung_collective_fails_within_the_timeout(tmp_path):
    """Rank 1 never joins the collective: rank 0 gives up after dist_params.timeout_minutes with one clear line."""
    script = tmp_path / "hang.py"
    script.write_text(
        "import os, sys, time, torch\n"
        "from gfpgan.utils import dist\n"
        "from gfpgan.utils.errors import run_main\n"
        "def body():\n"
        "    dist.init_dist('pytorch', 'gloo', timeout_minutes=0.1)\n"
        "    if dist.get_rank() == 1:\n"
        "        time.sleep(40)\n"
        "        return 0\n"
        "    dist.agree([True])\n"
        "sys.exit(run_main(body))\n"
    )
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
           str(script)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(REPO)}
    start = time.time()
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "error: a collective operation timed out" in log and "dist_params.timeout_minutes" in log, log[-3000:]
    assert time.time() - start < 120
