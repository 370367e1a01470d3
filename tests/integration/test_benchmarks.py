"""The benchmark harness (benchmarks/, outside the product) still runs, at toy sizes and without the reference
interpreter; each test checks something a broken harness would get wrong."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from benchmarks import harness as bench  # noqa: E402


def test_variant_parsing():
    assert bench.variant_cfg("bfloat16+cl") == {
        "dtype": "bfloat16", "channels_last": True, "compile": False, "stored": False
    }  # fmt: skip
    assert bench.variant_cfg("bfloat16+stored+cl+compile")["stored"] is True
    with pytest.raises(ValueError, match="DTYPE"):
        bench.variant_cfg("float64")


def test_timing_flops_and_peak():
    torch.set_num_threads(1)
    a = torch.randn(64, 64)
    assert bench.count_flops(lambda: a @ a) == 2 * 64**3
    assert 0.02 <= bench.time_call(lambda: time.sleep(0.02), torch.device("cpu")) < 1.0
    psutil = pytest.importorskip("psutil")
    block = torch.ones(64 * 2**20, dtype=torch.uint8)  # 64 MiB, touched
    # the peak is at least what the process holds now (earlier tests may have set a higher peak already)
    assert bench.peak_memory_mib(torch.device("cpu")) >= psutil.Process().memory_info().rss / 2**20 - 1
    del block


def test_ours_train_iteration_steps_every_network():
    cfg = dict(out_size=64, batch=1, channel_multiplier=1, narrow=0.0625, dtype="bfloat16", channels_last=True,
               compile=False, iter=16)  # fmt: skip
    torch.set_num_threads(1)
    call, weights = bench.build_ours_train(cfg, torch.device("cpu"))
    assert set(weights) == {"net_g", "net_d", "identity", "net_d_left_eye", "net_d_right_eye", "net_d_mouth"}
    before = {k: {n: v.clone() for n, v in sd.items()} for k, sd in weights.items()}
    call()  # the state dicts share storage with the networks
    for key in ("net_g", "net_d", "net_d_left_eye", "net_d_right_eye", "net_d_mouth"):
        assert any(not torch.equal(before[key][n], v) for n, v in weights[key].items()), f"{key} did not step"
    assert all(torch.equal(before["identity"][n], v) for n, v in weights["identity"].items())  # frozen


def test_cli_infer_end_to_end(tmp_path):
    out = tmp_path / "infer.json"
    bench_script = REPO / "benchmarks" / "benchmark.py"
    argv = ["infer", "--out-size", "32", "--narrow", "0.0625", "--batch", "1", "--faces", "1", "--repeats", "1",
            "--variants", "float32", "bfloat16+cl", "--no-reference", "--json", str(out)]  # fmt: skip
    proc = subprocess.run([sys.executable, str(bench_script), *argv], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    rows = result["rows"]
    kinds = [(r["variant"], r.get("kind", "generator")) for r in rows]
    assert (
        ("float32", "generator") in kinds
        and ("bfloat16+cl", "generator") in kinds
        and ("float32", "whole_image") in kinds
    )
    gen = [r for r in rows if r.get("kind") is None]
    assert gen[0]["flops"] == gen[1]["flops"] > 0  # the same convolutions, counted the same way
    assert 0 < gen[1]["vs_float32"]["max_abs"] < 0.5  # bfloat16 really ran, and close to float32
    assert result["gpu"] in ("not measured: no GPU", None)


def test_bench_data_our_side_runs_both_heap_settings():
    cmd = [sys.executable, str(REPO / "benchmarks" / "bench_data.py"), "--no-reference", "--num-images", "2",
           "--samples", "2", "--warmup", "1", "--rounds", "1"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ours_samples_per_s"] > 0 and result["ours_untuned_heap_samples_per_s"] > 0
    assert result["reference_samples_per_s"] is None and result["speedup"] is None
