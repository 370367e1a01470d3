"""Smoke tests of the benchmark harness at toy sizes (no reference interpreter needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gfpgan import bench
from gfpgan.archs.stylegan2 import modulated_conv2d

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_forms_agree(transposed, demodulate):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 8, 6, 6, generator=g, requires_grad=True)
    weight = torch.randn(1, 5, 8, 3, 3, generator=g) / 8
    style = torch.rand(3, 8, generator=g) + 0.5
    outs, grads = [], []
    for fused in (True, False):
        out = modulated_conv2d(x, weight, style, demodulate, 0 if transposed else 1, transposed=transposed, fused=fused)
        (grad,) = torch.autograd.grad(out.square().sum(), x)
        outs.append(out)
        grads.append(grad)
    assert outs[0].shape == outs[1].shape
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-4)


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
    assert bench.time_call(lambda: a @ a, torch.device("cpu")) > 0
    assert bench.matmul_peak(torch.float32, torch.device("cpu"), size=128, repeats=2) > 0
    assert bench.peak_memory_mib(torch.device("cpu")) > 10


def test_ours_train_iteration_runs():
    cfg = dict(out_size=64, batch=1, channel_multiplier=1, narrow=0.0625, dtype="bfloat16", channels_last=True,
               compile=False, iter=16)  # fmt: skip
    torch.set_num_threads(1)
    call, weights = bench.build_ours_train(cfg, torch.device("cpu"))
    before = weights["net_d"]["final_linear.1.weight"].clone()
    call()
    assert not torch.equal(before, weights["net_d"]["final_linear.1.weight"])  # D stepped (state dict shares storage)
    assert set(weights) >= {"net_g", "net_d", "identity", "net_d_left_eye"}


def test_cli_infer_end_to_end(tmp_path):
    out = tmp_path / "infer.json"
    bench_script = REPO / "scripts" / "benchmark.py"
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
    assert all(r["median_s"] > 0 and r["maxrss_mib"] > 0 and r["flops"] > 0 for r in gen)
    assert gen[1]["vs_float32"]["max_abs"] < 0.5
    assert result["gpu"] in ("not measured: no GPU", None)


def test_bench_data_our_side_runs_both_heap_settings():
    cmd = [sys.executable, str(REPO / "scripts" / "bench_data.py"), "--no-reference", "--num-images", "2",
           "--samples", "2", "--warmup", "1", "--rounds", "1"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ours_samples_per_s"] > 0 and result["ours_untuned_heap_samples_per_s"] > 0
    assert result["reference_samples_per_s"] is None and result["speedup"] is None
