"""Training end to end on generated data: every smoke twin, exact resume, non-finite guard, crash-safe checkpoints."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gfpgan.losses.pixel import L1Loss
from gfpgan.options import load_options, read_yaml
from gfpgan.train import procedure_for
from gfpgan.utils.checkpoint import find_resume_state, load_training_state

REPO = Path(__file__).resolve().parents[2]
SMOKE_FILES = sorted(  # training twins only: test option files (no train section) are run by test_test_cli.py
    str(p.relative_to(REPO)) for p in (REPO / "options" / "smoke").rglob("*.yml") if read_yaml(p).get("train")
)


def run(path: str | Path, *overrides: str, auto_resume: bool = False) -> dict:
    opts, report = load_options(REPO / path, overrides=["logger.use_tb_logger=false", *overrides])
    assert not report.unregistered and not report.missing_paths, report
    return procedure_for(opts)(opts, auto_resume=auto_resume)


def _moved(exp: Path, first: int, second: int) -> dict[str, bool]:
    """Per network file (net_g, net_d, net_d_left_eye, ...): did any parameter change between the two iterations?"""
    a, b = _params(exp, first), _params(exp, second)
    nets = {k.split("/")[0].rsplit("_", 1)[0] for k in a}
    out = {}
    for net in nets:
        keys = [k for k in a if k.startswith(f"{net}_{first}/params/")]
        out[net] = any(not torch.equal(a[k], b[k.replace(f"{net}_{first}/", f"{net}_{second}/")]) for k in keys)
    return out


@pytest.mark.parametrize("path", SMOKE_FILES)
def test_smoke_twin_trains_two_iterations(workdir, path):
    result = run(path, "train.total_iter=2", "logger.save_checkpoint_freq=1", "logger.keep_checkpoints=~")
    assert result["iter"] == 2
    exp = result["exp"]
    checkpoint = torch.load(exp / "models" / "net_g_2.pth", weights_only=True)
    assert set(checkpoint) == {"params", "params_ema"}
    assert all(torch.isfinite(v).all() for v in checkpoint["params"].values() if v.is_floating_point())
    assert (exp / "training_states" / "2.state").is_file() and (exp / "options.yml").is_file()
    # Every trained network (G, D, each component D) takes a step at iteration 2.
    moved = _moved(exp, 1, 2)
    opts = read_yaml(REPO / path)
    expected = {"net_g"} | {f"net_{k.removeprefix('network_')}" for k in opts if k.startswith("network_d") and opts[k]}
    assert set(moved) == expected, moved
    assert all(moved.values()), f"networks that did not move: {[k for k, v in moved.items() if not v]}"


def _params(exp: Path, it: int) -> dict[str, torch.Tensor]:
    out = {}
    for f in sorted((exp / "models").glob(f"net_*_{it}.pth")):
        for key, sd in torch.load(f, weights_only=True).items():
            out.update({f"{f.stem}/{key}/{k}": v for k, v in sd.items()})
    return out


def test_resume_reproduces_an_uninterrupted_run(workdir):
    """Resuming at iteration 2 gives bit-identical parameters at iteration 4 (mid-epoch, every loss on, R1 at 2/4)."""
    common = ["val=~", "logger.save_checkpoint_freq=2", "datasets.train.batch_size_per_gpu=2"]
    full = run("options/smoke/train_gfpgan.yml", "name=resume_full", "train.total_iter=4", *common)
    run("options/smoke/train_gfpgan.yml", "name=resume_split", "train.total_iter=2", *common)
    split = run("options/smoke/train_gfpgan.yml", "name=resume_split", "train.total_iter=4", *common, auto_resume=True)
    a, b = _params(full["exp"], 4), _params(split["exp"], 4)
    assert a.keys() == b.keys() and len(a) > 100
    moved = _moved(split["exp"], 2, 4)  # a trainer that never steps would resume "exactly" too
    assert len(moved) == 5 and all(moved.values()), moved
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:5]
    state = load_training_state(split["exp"] / "training_states" / "4.state")
    assert state["iter"] == 4 and state["epoch"] == 1 and state["batch_in_epoch"] == 0  # 8 images / batch 2


def test_nonfinite_losses_stop_training_cleanly(workdir, monkeypatch):
    calls = {"n": 0}
    original = L1Loss.forward

    def nan_after_two(self, pred, target, weight=None):
        calls["n"] += 1
        loss = original(self, pred, target, weight)
        return loss * float("nan") if calls["n"] > 2 else loss

    monkeypatch.setattr(L1Loss, "forward", nan_after_two)
    overrides = ["name=nonfinite", "train.total_iter=6", "train.max_nonfinite_steps=2", "logger.save_checkpoint_freq=1",
                 "train.L1_opt=~", "train.pyramid_loss_weight=0", "train.comp_style_weight=0",
                 "train.identity_weight=0", "val=~"]  # fmt: skip
    with pytest.raises(RuntimeError, match="non-finite losses in a row at iteration 4: training stopped. No state"):
        run("options/smoke/train_gfpgan.yml", *overrides)
    # Iteration 3 was the first non-finite one: no state was saved from then on, so auto-resume finds healthy weights.
    states = workdir / "experiments" / "nonfinite" / "training_states"
    assert sorted(int(p.stem) for p in states.glob("*.state")) == [1, 2]
    state = load_training_state(find_resume_state(states))
    assert state["iter"] == 2
    assert all(torch.isfinite(v).all() for v in state["nets"]["net_g"].values() if v.is_floating_point())


def test_a_full_disk_stops_with_one_line_in_terminal_and_log(workdir, monkeypatch, capsys):
    """ENOSPC while saving iteration 2: exit 1, one line naming the folder, in the terminal and the run log; the
    state of iteration 1 intact and found by auto-resume; a stale temporary file is removed at the next start."""
    import errno

    from gfpgan.train import main
    from gfpgan.utils import checkpoint

    real_save, calls = torch.save, {"n": 0}

    def fill_disk_on_second_state(obj, f):
        if isinstance(obj, dict) and "rng" in obj:
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f)

    monkeypatch.setattr(checkpoint.torch, "save", fill_disk_on_second_state)
    argv = ["-opt", str(REPO / "options/smoke/train_gfpgan.yml"), "--set", "name=fulldisk", "train.total_iter=3",
            "logger.save_checkpoint_freq=1", "logger.use_tb_logger=false", "val=~"]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    exp = workdir / "experiments" / "fulldisk"
    expected = "error: experiments/fulldisk/training_states: no space left writing 2.state (needs about"
    assert len(err) == 1 and err[0].startswith(expected), err
    assert "Traceback" not in "\n".join(err)
    log = next(exp.glob("train_fulldisk_*.log")).read_text()
    assert "no space left writing 2.state" in log
    assert find_resume_state(exp / "training_states") == exp / "training_states" / "1.state"

    monkeypatch.setattr(checkpoint.torch, "save", real_save)
    (exp / "training_states" / ".2.state.x1y2.tmp").write_bytes(b"0" * 4096)  # as a SIGKILL mid-write leaves it
    assert main([*argv, "--auto_resume"]) == 0
    assert not list((exp / "training_states").glob(".*.tmp"))
    assert "Removed 1 stale temporary files" in next(iter(sorted(exp.glob("train_fulldisk_*.log"))[-1:])).read_text()


WRITER = """
import sys, torch
from gfpgan.utils.checkpoint import atomic_save
atomic_save({"iter": 99, "blob": torch.zeros(150_000_000, dtype=torch.uint8)}, sys.argv[1])
"""


def test_kill_during_checkpoint_write_never_breaks_auto_resume(tmp_path):
    states = tmp_path / "training_states"
    states.mkdir()
    from gfpgan.utils.checkpoint import atomic_save

    atomic_save({"iter": 2}, states / "2.state")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(states / "4.state")], cwd=REPO)
    deadline = time.time() + 60
    while not list(states.glob(".4.state.*")) and time.time() < deadline:  # the temporary file appears
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (states / "4.state").exists()
    found = find_resume_state(states)
    assert found == states / "2.state" and load_training_state(found)["iter"] == 2
    (states / "6.state").write_bytes(b"truncated garbage")  # a damaged newest file is skipped with a warning
    assert find_resume_state(states) == states / "2.state"


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_mixed_precision_and_channels_last_train(workdir, dtype):
    """Every loss on under autocast (float16 with a GradScaler; R1 in float32) with channels_last networks."""
    result = run(
        "options/smoke/train_gfpgan.yml", f"name=amp_{dtype}", "train.total_iter=2", "train.amp.enabled=true",
        f"train.amp.dtype={dtype}", "train.channels_last=true", "val=~",
    )  # fmt: skip
    state = load_training_state(result["exp"] / "training_states" / "2.state")
    assert state["iter"] == 2 and ("scale" in state["scaler"]) == (dtype == "float16")
    assert all(torch.isfinite(v).all() for v in state["nets"]["net_g"].values() if v.is_floating_point())
