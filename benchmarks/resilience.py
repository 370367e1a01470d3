"""Resilience figures: kill-and-resume against an uninterrupted run, and a NaN on one of two DDP ranks.

    python benchmarks/resilience.py kills --kills 20 --iters 40 --seed 0     # SIGKILL at random moments
    python benchmarks/resilience.py nan                                      # 2-process gloo, NaN on rank 1 only

``kills``: trains options/smoke/train_gfpgan.yml (every loss on, a checkpoint every iteration) once without
interruption, then again under ``--auto_resume`` while killing the process with SIGKILL: alternately at a random
moment and the moment a checkpoint's temporary file appears (mid-write). It relaunches until the run completes, then
compares every parameter, EMA and optimizer tensor of the final state with the uninterrupted run bit for bit, and
counts the temporary files left. Prints one JSON line; exit code 1 when anything differs or a file is left over.

``nan``: runs tests/integration/ddp_nan_injection.py under torchrun with NaNs injected on rank 1 at three
iterations (G's loss, D's, the left-eye D's) and reports whether the run completed with identical replicas.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "options" / "smoke" / "train_gfpgan.yml"


def _train_cmd(name: str, iters: int) -> list[str]:
    return [
        sys.executable, str(REPO / "train.py"), "-opt", str(SMOKE), "--auto_resume", "--set", f"name={name}",
        f"train.total_iter={iters}", "val=~", "logger.use_tb_logger=false", "logger.save_checkpoint_freq=1",
        "logger.keep_checkpoints=2", "num_threads=1",
    ]  # fmt: skip


def _final_tensors(exp: Path, iters: int) -> dict[str, torch.Tensor]:
    state = torch.load(exp / "training_states" / f"{iters}.state", weights_only=True)
    out = {f"nets/{n}/{k}": v for n, sd in state["nets"].items() for k, v in sd.items()}
    for name, opt in state["optimizers"].items():
        for pid, s in opt["state"].items():
            out.update({f"optim/{name}/{pid}/{k}": v for k, v in s.items() if isinstance(v, torch.Tensor)})
    return out


def kills(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="gfpgan_resilience_"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    start = time.time()
    subprocess.run(_train_cmd("uninterrupted", args.iters), cwd=work, env=env, check=True, capture_output=True)
    reference_s = time.time() - start
    rng = random.Random(args.seed)
    exp = work / "experiments" / "killed"
    done, kills_random, kills_mid_write, launches = False, 0, 0, 0
    while not done:
        launches += 1
        proc = subprocess.Popen(_train_cmd("killed", args.iters), cwd=work, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        remaining = args.kills - kills_random - kills_mid_write
        mid_write = remaining > 0 and (kills_random + kills_mid_write) % 2 == 1
        # a random moment between start-up and a few iterations in (each launch must be killed before it finishes)
        deadline = time.time() + (rng.uniform(args.min_s, args.max_s) if remaining > 0 else 1e9)
        killed = False
        while proc.poll() is None:
            temporaries = list((exp / "training_states").glob(".*.tmp")) if exp.is_dir() else []
            if remaining > 0 and ((mid_write and temporaries) or (not mid_write and time.time() > deadline)):
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                killed = True
                kills_mid_write += mid_write
                kills_random += not mid_write
                break
            time.sleep(0.005)
        if not killed:
            if proc.returncode != 0:
                print(proc.stderr.read()[-3000:], file=sys.stderr)
                return 1
            done = True
    a, b = _final_tensors(work / "experiments" / "uninterrupted", args.iters), _final_tensors(exp, args.iters)
    different = [k for k in a if k not in b or not torch.equal(a[k], b[k])]
    leftovers = [str(p) for p in exp.rglob(".*.tmp")]
    result = {
        "iterations": args.iters,
        "kills": kills_random + kills_mid_write,
        "kills_mid_write": kills_mid_write,
        "launches": launches,
        "tensors_compared": len(a),
        "tensors_different": len(different),
        "temporary_files_left": len(leftovers),
        "bit_identical": not different and a.keys() == b.keys(),
        "uninterrupted_run_s": round(reference_s, 1),
        "wall_s": round(time.time() - start, 1),
    }
    print(json.dumps(result))
    return 0 if result["bit_identical"] and not leftovers else 1


def nan(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="gfpgan_nan_"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}",
        str(REPO / "tests" / "integration" / "ddp_nan_injection.py"), "-opt", str(SMOKE), "--launcher", "pytorch",
        "--set", "name=nan", "val=~", "logger.use_tb_logger=false", "logger.save_checkpoint_freq=1",
        "train.total_iter=6", "dist_params.timeout_minutes=2",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "GFPGAN_NAN_AT": "2:g,3:d,4:left_eye"}
    start = time.time()
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    result = {
        "world_size": 2,
        "injected": {"2": "G loss (rank 1)", "3": "D loss (rank 1)", "4": "left-eye D loss (rank 1)"},
        "exit_code": proc.returncode,
        "skipped_on_every_rank": sum(f"Iteration {i}: non-finite loss on another process" in log for i in (2, 3, 4)),
        "identical_replica_checks": log.count("parameters identical across 2 processes"),
        "completed": "End of training at iteration 6" in log,
        "wall_s": round(time.time() - start, 1),
    }
    print(json.dumps(result))
    return 0 if proc.returncode == 0 and result["completed"] else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    k = sub.add_parser("kills", help="SIGKILL at random moments and mid-write, resume, compare bit for bit")
    k.add_argument("--kills", type=int, default=20)
    k.add_argument("--iters", type=int, default=40)
    k.add_argument("--seed", type=int, default=0)
    k.add_argument("--min-s", type=float, default=2.5, help="earliest random kill after a launch, seconds")
    k.add_argument("--max-s", type=float, default=7.0, help="latest random kill after a launch, seconds")
    sub.add_parser("nan", help="a NaN on one of two DDP ranks")
    args = parser.parse_args()
    return kills(args) if args.mode == "kills" else nan(args)


if __name__ == "__main__":
    sys.exit(main())
