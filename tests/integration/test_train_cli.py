"""train.py command line: dry run, errors before any work, torchrun environment, --local-rank."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed

from gfpgan.train import main, parse_args
from gfpgan.utils import dist

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(REPO / "train.py"), *args], capture_output=True, text=True, cwd=cwd, env=env
    )


def test_dry_run_prints_resolved_options_and_warns(tmp_path):
    result = run_cli("-opt", str(REPO / "options/train_gfpgan.yml"), "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "name: train_GFPGANv1_512" in result.stdout and "ema_decay: 0.99778" in result.stdout
    assert "warning: missing: datasets.train.dataroot_gt: datasets/ffhq/ffhq_512" in result.stderr
    assert not (tmp_path / "experiments").exists()  # a dry run writes nothing


def test_real_run_refuses_missing_files(tmp_path):
    result = run_cli("-opt", str(REPO / "options/train_gfpgan.yml"), cwd=tmp_path)
    assert result.returncode == 2
    assert "cannot start training" in result.stderr and "network_g.decoder_load_path" in result.stderr


def test_typo_fails_before_work(tmp_path, capsys):
    code = main(["-opt", str(REPO / "options/train_gfpgan.yml"), "--set", "train.pyramid_loss_weigth=1", "--dry-run"])
    assert code == 2
    assert "train.pyramid_loss_weigth: unknown option. Did you mean 'pyramid_loss_weight'" in capsys.readouterr().err


def test_set_takes_several_pairs_and_repeats():
    args = parse_args(["-opt", "x.yml", "--set", "a.b=1", "c.d=2", "--set", "e.f=3", "--local-rank=1"])
    assert args.overrides == ["a.b=1", "c.d=2", "e.f=3"]
    assert parse_args(["-opt", "x.yml", "--local_rank", "0"]).local_rank == 0


def test_debug_prefixes_name(capsys):
    assert main(["-opt", str(REPO / "options/smoke/train_gfpgan.yml"), "--debug", "--dry-run"]) == 0
    assert "name: debug_smoke_train_gfpgan" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_environment_gives_rank(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    try:
        assert dist.init_dist("pytorch", backend="gloo") == (0, 1, 0)
        assert dist.get_world_size() == 1 and dist.is_main()
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def test_pytorch_launcher_without_torchrun_says_what_to_do(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(RuntimeError, match="torchrun --nproc_per_node"):
        dist.init_dist("pytorch")


def test_a_test_option_file_points_to_test_py(capsys):
    assert main(["-opt", str(REPO / "options/test_gfpgan.yml")]) == 2
    assert "is a test option file (no train section): run python test.py" in capsys.readouterr().err
