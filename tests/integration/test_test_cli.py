"""test.py and scripts/reproduce_table.py end to end on generated faces with a seeded random tiny checkpoint.

The faces are 128 px: NIQE scores 96x96 blocks, so it cannot run on smaller images.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from gfpgan.cli import evaluate
from gfpgan.data.synthetic import make_synthetic_faces
from gfpgan.options import OptionError, load_options, read_yaml, validate
from gfpgan.registry import ARCHS
from gfpgan.test import main as run_test
from gfpgan.utils.images import tensor2img
from gfpgan.utils.state_dict import load_weights

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "options" / "smoke" / "test_gfpgan.yml")
SET = "synthetic_test_128"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A module-wide working folder (datasets/ and results/ are relative) holding a seeded random checkpoint."""
    path = tmp_path_factory.mktemp("test_cli")
    old = os.getcwd()
    os.chdir(path)
    opts, _ = load_options(SMOKE)
    torch.manual_seed(0)
    net = ARCHS.build(opts.network_g, where="network_g")
    with torch.no_grad():  # distinct stored noise, so that "stored buffers" is observable
        for name, buffer in net.named_buffers():
            if "noise" in name:
                buffer.normal_()
    state = net.state_dict()
    torch.save({"params": {k: torch.zeros_like(v) for k, v in state.items()}, "params_ema": state}, path / "ckpt.pth")
    yield path
    os.chdir(old)


def _smoke(*overrides: str) -> int:
    return run_test(["-opt", SMOKE, "--set", "path.pretrain_network_g=ckpt.pth", *overrides])


def test_smoke_twin_end_to_end(workdir, capsys):
    assert _smoke() == 0
    out = capsys.readouterr().out
    assert "NIQE" in out and "PSNR" in out and "SSIM" in out and "protocol: niqe:" in out and "N=3" in out
    root = workdir / "results" / "smoke_test_gfpgan"
    report = json.loads((root / f"{SET}.json").read_text())
    assert set(report) == {"protocol", "summary", "per_image"}
    assert report["protocol"]["checkpoint"] == "ckpt.pth" and report["protocol"]["num_images"] == 3
    assert report["protocol"]["param_key"] == "auto"  # -> params_ema (params are all zeros: a flat output)
    files = sorted(report["per_image"])
    assert files == ["00000000.png", "00000001.png", "00000002.png"]
    for metric in ("niqe", "psnr", "ssim"):
        values = [report["per_image"][f][metric] for f in files]
        assert report["summary"][metric] == pytest.approx(np.mean(values), rel=1e-12)
    with open(root / f"{SET}.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["file", "niqe", "psnr", "ssim"] and len(rows) == 4
    assert float(rows[1][2]) == report["per_image"][rows[1][0]]["psnr"]

    # The saved faces are what was scored: gfpgan-eval on them gives the same numbers.
    vis = root / "visualization" / SET
    assert sorted(p.name for p in vis.iterdir()) == files
    gt_dir = workdir / "datasets" / "smoke_test" / "test_128" / "gt"
    args = ["--restored", str(vis), "--gt", str(gt_dir), "--metrics", "psnr", "ssim", "niqe", "--json", "e.json"]
    assert evaluate.main(args) == 0
    again = json.loads(Path("e.json").read_text())
    assert again["summary"] == report["summary"] and again["per_image"] == report["per_image"]

    # The restoration is the generator's with its stored noise, whatever the batch size (up to float rounding: a
    # batch of 1 may land a few pixels one 8-bit level apart).
    net = ARCHS.build(load_options(SMOKE)[0].network_g, where="network_g")
    load_weights(net, "ckpt.pth", param_key="params_ema")
    lq = cv2.imread(str(workdir / "datasets/smoke_test/test_128/lq/00000001.png"))[:, :, ::-1]
    x = torch.from_numpy(lq.astype(np.float32) / 255).permute(2, 0, 1)[None] * 2 - 1
    with torch.no_grad():
        expected = tensor2img(net.eval()(x, return_rgb=False, randomize_noise=False)[0])[0]
    saved = cv2.imread(str(vis / "00000001.png"))[:, :, ::-1]
    diff = np.abs(saved.astype(int) - expected.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3

    assert _smoke("datasets.test.batch_size_per_gpu=1", "path.results_root=results/batch1", "val.save_img=false") == 0
    single = json.loads((workdir / "results" / "batch1" / f"{SET}.json").read_text())
    for f in files:
        assert single["per_image"][f] == pytest.approx(report["per_image"][f], rel=1e-3)
    assert not (workdir / "results" / "batch1" / "visualization").exists()


def test_missing_or_unfitting_checkpoint_is_named(workdir, capsys):
    assert run_test(["-opt", SMOKE]) == 2  # the file's own path does not exist here
    err = capsys.readouterr().err
    assert "path.pretrain_network_g: checkpoint experiments/smoke_test_gfpgan/net_g_random.pth does not exist" in err
    assert run_test(["-opt", SMOKE, "--set", "path.pretrain_network_g=nope/net_g.pth"]) == 2
    assert "nope/net_g.pth does not exist" in capsys.readouterr().err
    assert run_test(["-opt", SMOKE, "--set", "path.pretrain_network_g=~"]) == 2
    assert "path.pretrain_network_g is not set" in capsys.readouterr().err
    # A checkpoint of another shape: the mismatch is listed, no traceback.
    assert _smoke("network_g.out_size=64", "path.results_root=results/wrong") == 2
    assert "do not fit GFPGANv1Clean" in capsys.readouterr().err
    # Metric weights are checked before anything is restored; the message names the metric.
    assert _smoke("val.metrics.fid={type: fid, weights: nope.pth}", "path.results_root=results/nofid") == 2
    assert "val.metrics.fid: weights file nope.pth does not exist" in capsys.readouterr().err
    assert not (workdir / "results" / "wrong").exists() and not (workdir / "results" / "nofid").exists()


def test_dry_run_prints_resolved_options(workdir, capsys):
    assert run_test(["-opt", SMOKE, "--dry-run", "--set", "val.save_img=false"]) == 0
    captured = capsys.readouterr()
    printed = yaml.safe_load(captured.out)
    assert printed["train"] is None and printed["val"]["save_img"] is False
    assert printed["datasets"]["test"]["loader"]["batch_size_per_gpu"] == 2
    assert "options valid" in captured.err


def test_test_option_files_validate_as_such(tmp_path):
    opts, report = load_options(REPO / "options" / "test_gfpgan.yml")
    assert opts.train is None and opts.path.param_key_g is None  # test files default to auto
    assert set(opts.val.metrics) == {"lpips", "fid", "niqe", "deg", "psnr", "ssim"}
    assert opts.val.metrics.fid.stats.endswith("inception_FFHQ_512-f7b384ab.pth")
    with pytest.raises(OptionError, match=r"train\.optim_g: required option is missing"):
        load_options(SMOKE, phase="train")
    raw = read_yaml(SMOKE)
    raw["datasets"] = {"val": raw["datasets"]["test"]}
    with pytest.raises(OptionError, match=r"needs at least one test\* dataset"):
        validate(raw)
    raw = read_yaml(SMOKE)
    raw["val"] = {"save_img": False}
    with pytest.raises(OptionError, match=r"val\.metrics: a test option file needs at least one metric"):
        validate(raw)
    training, _ = load_options(REPO / "options" / "smoke" / "train_gfpgan_clean.yml")  # auto -> train
    assert training.train.total_iter == 2 and training.path.param_key_g == "params_ema"


def _reproduce_table():
    spec = importlib.util.spec_from_file_location("reproduce_table", REPO / "scripts" / "reproduce_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_reproduce_table_on_synthetic_faces(workdir, capsys):
    reproduce = _reproduce_table()
    make_synthetic_faces("hq", num=4, size=128, seed=7)
    args = ["--gt", "hq", "--model-path", "ckpt.pth", "--out", "table", "--metrics", "psnr", "ssim", "niqe"]
    assert reproduce(args) == 0
    out = capsys.readouterr().out
    assert "protocol: niqe:" in out and "N=4" in out and "LPIPS" not in out and "FID" not in out
    header, *rows = out.split("protocol:")[0].strip().splitlines()
    assert header.split() == ["NIQE", "PSNR", "SSIM"]
    labels = ["Input (paper)", "Input (ours)", "GFP-GAN (paper)", "ours", "GT (paper)"]
    assert [r[: len(label)] for r, label in zip(rows, labels)] == labels and len(rows) == 5
    paper = next(r for r in rows if r.startswith("GFP-GAN (paper)"))
    assert paper.split()[-3:] == ["4.077", "25.08", "0.6777"]

    record = json.loads(Path("table/lq/degradation_params.json").read_text())
    assert record["seed"] == 0 and len(record["images"]) == 4
    ours, inputs = json.loads(Path("table/ours.json").read_text()), json.loads(Path("table/input.json").read_text())
    assert ours["protocol"]["num_images"] == 4 and ours["protocol"]["arch"] == "clean"
    # The Input row scores the degraded PNGs themselves against the HQ faces.
    evaluate.main(["--restored", "table/lq", "--gt", "hq", "--metrics", "psnr", "ssim", "niqe", "--json", "in.json"])
    assert json.loads(Path("in.json").read_text())["summary"] == inputs["summary"]
    assert (Path("table/table.txt").read_text().splitlines()[1]).startswith("Input (paper)")

    # Reruns reuse the degraded set; another seed into the same folder is refused.
    assert reproduce([*args, "--seed", "1"]) == 2
    assert "delete it or pass another --out" in capsys.readouterr().err
    assert reproduce(["--gt", "hq", "--model-path", "missing.pth", "--metrics", "psnr"]) == 2
    assert "missing.pth does not exist" in capsys.readouterr().err
