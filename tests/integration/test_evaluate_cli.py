"""gfpgan-eval on tiny generated folders: table + protocol line, CSV/JSON outputs, pairing and size errors."""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_metrics_seeded import seeded_images, seeded_state_dict  # noqa: E402

from gfpgan.cli.evaluate import main  # noqa: E402
from gfpgan.metrics import calculate_niqe, calculate_psnr  # noqa: E402


def write_folder(folder: Path, images: list[np.ndarray], names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, img in zip(names, images):
        cv2.imwrite(str(folder / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path, list[np.ndarray], list[np.ndarray]]:
    root = tmp_path_factory.mktemp("eval")
    gt = seeded_images(40, 3, 100, 104)
    rng = np.random.default_rng(41)
    restored = [np.clip(g + rng.normal(0, 8, g.shape), 0, 255).astype(np.uint8) for g in gt]
    write_folder(root / "gt", gt, ["a.png", "b.png", "c.png"])
    write_folder(root / "restored", restored, ["a.png", "b.png", "c.png"])
    return root / "restored", root / "gt", restored, gt


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory) -> tuple[Path, Path]:
    from gfpgan.archs.arcface import ResNetArcFace
    from gfpgan.metrics.lpips import LPIPSNet

    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    torch.save(LPIPSNet("alex").state_dict(), root / "lpips_alex.pth")  # the lpips package's state-dict layout
    arcface = ResNetArcFace(block="IRBlock", layers=[2, 2, 2, 2], use_se=False)
    torch.save(seeded_state_dict({k: tuple(v.shape) for k, v in arcface.state_dict().items()}, 6), root / "arc.pth")
    return root / "lpips_alex.pth", root / "arc.pth"


def test_full_reference_run_writes_table_csv_json(folders, weight_files, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GFPGAN_OFFLINE", "1")
    monkeypatch.setenv("GFPGAN_CACHE_DIR", str(tmp_path / "no_cache"))
    monkeypatch.chdir(tmp_path)  # no experiments/pretrained_models here either
    restored_dir, gt_dir, restored, gt = folders
    lpips_file, arcface_file = weight_files
    argv = ["--restored", str(restored_dir), "--gt", str(gt_dir), "--metrics", "psnr", "ssim", "niqe", "lpips", "deg"]
    argv += ["--lpips-net", "alex", "--lpips-weights", str(lpips_file), "--arcface-weights", str(arcface_file)]
    argv += ["--csv", str(tmp_path / "scores.csv"), "--json", str(tmp_path / "scores.json")]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["LPIPS", "NIQE", "Deg", "PSNR", "SSIM"]  # Table 1 column order
    assert out[1].startswith("restored")
    assert out[2].startswith("protocol: lpips: ") and "N=3" in out[2] and "test_y_channel=False" in out[2]

    report = json.loads((tmp_path / "scores.json").read_text())
    assert set(report) == {"protocol", "summary", "per_image"}
    assert report["protocol"]["num_images"] == 3 and report["protocol"]["metrics"]["lpips"]["net"] == "alex"
    assert sorted(report["per_image"]) == ["a.png", "b.png", "c.png"]
    expected_psnr = [calculate_psnr(r, g) for r, g in zip(restored, gt)]
    assert [report["per_image"][n]["psnr"] for n in ("a.png", "b.png", "c.png")] == pytest.approx(expected_psnr)
    assert report["summary"]["psnr"] == pytest.approx(np.mean(expected_psnr))
    assert report["per_image"]["b.png"]["niqe"] == pytest.approx(calculate_niqe(restored[1]))

    rows = list(csv.reader((tmp_path / "scores.csv").open()))
    assert rows[0] == ["file", "lpips", "niqe", "deg", "psnr", "ssim"]
    assert [r[0] for r in rows[1:]] == ["a.png", "b.png", "c.png"]
    assert float(rows[1][4]) == pytest.approx(expected_psnr[0])


def test_no_reference_run_without_gt(folders, capsys, tmp_path):
    restored_dir, _, restored, _ = folders
    assert main(["--restored", str(restored_dir), "--json", str(tmp_path / "nr.json")]) == 0  # default: NIQE only
    assert capsys.readouterr().out.splitlines()[0].split() == ["NIQE"]
    report = json.loads((tmp_path / "nr.json").read_text())
    assert report["summary"]["niqe"] == pytest.approx(np.mean([calculate_niqe(r) for r in restored]))


def _fails(argv: list[str], capsys) -> str:
    """Run gfpgan-eval expecting an input error: exit code 2 and exactly one line on stderr, returned."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_unmatched_names_are_listed(folders, tmp_path, capsys):
    restored_dir, _, _, gt = folders
    write_folder(tmp_path / "gt", gt, ["a.png", "x.png", "y.png"])
    line = _fails(["--restored", str(restored_dir), "--gt", str(tmp_path / "gt"), "--metrics", "psnr"], capsys)
    assert "2 restored without GT: b, c; 2 GT without restored: x, y" in line


def test_size_mismatch_is_reported(folders, tmp_path, capsys):
    restored_dir, _, _, gt = folders
    write_folder(tmp_path / "gt", [g[:96] for g in gt], ["a.png", "b.png", "c.png"])
    line = _fails(["--restored", str(restored_dir), "--gt", str(tmp_path / "gt"), "--metrics", "ssim"], capsys)
    assert re.search(r"3 image pair\(s\) differ in size.*a.png \(100, 104\) vs a.png \(96, 104\)", line)


def test_argument_errors(folders, tmp_path, capsys):
    restored_dir, _, _, _ = folders
    assert "psnr need --gt" in _fails(["--restored", str(restored_dir), "--metrics", "psnr"], capsys)
    assert "FID without --gt needs --fid-stats" in _fails(["--restored", str(restored_dir), "--metrics", "fid"], capsys)
    assert "does not exist" in _fails(["--restored", str(tmp_path / "missing")], capsys)


def test_default_metrics_run_what_can_run_on_tiny_faces(tmp_path, capsys, monkeypatch):
    """No --metrics on 32 px faces, offline: PSNR/SSIM are scored; NIQE cannot score 32 px images and the metrics
    whose weights are missing are left out, each with one line saying why."""
    monkeypatch.setenv("GFPGAN_WEIGHTS_DIR", str(tmp_path / "no_weights"))
    monkeypatch.setenv("GFPGAN_OFFLINE", "1")
    monkeypatch.setenv("GFPGAN_CACHE_DIR", str(tmp_path / "no_cache"))
    monkeypatch.chdir(tmp_path)  # no experiments/pretrained_models here either
    rng = np.random.default_rng(0)
    faces = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    write_folder(tmp_path / "restored", faces, ["a.png", "b.png", "c.png"])
    write_folder(tmp_path / "gt", [np.clip(f.astype(int) + 9, 0, 255).astype(np.uint8) for f in faces],
                 ["a.png", "b.png", "c.png"])  # fmt: skip
    assert main(["--restored", str(tmp_path / "restored"), "--gt", str(tmp_path / "gt")]) == 0
    captured = capsys.readouterr()
    header = captured.out.splitlines()[0].split()
    assert header[:2] == ["PSNR", "SSIM"] and "NIQE" not in header
    assert "not scored niqe: a.png: NIQE needs an image of at least 96x96 pixels" in captured.err
    for name in ("lpips", "fid", "deg"):  # no weights anywhere it looks, offline: skipped, saying which file and where
        assert re.search(
            rf"^skipped {name}: \S+\.pth .* not found in .*; download https://\S+ into ", captured.err, re.M
        )
    assert "Traceback" not in captured.err


def test_several_methods_in_one_table_with_pictures(folders, tmp_path, capsys):
    """Three restored folders scored under one protocol: one table (arrows, best and second best marked), written as
    Markdown/CSV/JSON/LaTeX with per-method scores and the worst faces, a contact sheet and a perception-distortion
    plot; the numbers are those of scoring each folder alone."""
    restored_dir, gt_dir, restored, gt = folders
    rng = np.random.default_rng(7)
    noisy = {"good": 2, "fair": 8, "poor": 20}
    for name, sigma in noisy.items():
        write_folder(tmp_path / name, [np.clip(g + rng.normal(0, sigma, g.shape), 0, 255).astype(np.uint8) for g in gt],
                     ["a.png", "b.png", "c.png"])  # fmt: skip
    write_folder(tmp_path / "lq", [cv2.GaussianBlur(g, (9, 9), 3) for g in gt], ["a.png", "b.png", "c.png"])
    out = tmp_path / "report"
    argv = ["--restored", *(str(tmp_path / n) for n in noisy), "--names", "Good", "Fair", "Poor", "--gt", str(gt_dir),
            "--lq", str(tmp_path / "lq"), "--metrics", "psnr", "ssim", "niqe", "--out", str(out),
            "--sheet-count", "2"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["NIQE↓", "PSNR↑", "SSIM↑"]  # the paper's column order
    good = printed[1].split()
    assert good[0] == "Good" and good[2].endswith("*") and good[3].endswith("*")  # best PSNR and SSIM
    assert printed[2].split()[2].endswith("_")  # Fair: second best PSNR
    table = json.loads((out / "table.json").read_text())
    alone = main(["--restored", str(tmp_path / "fair"), "--gt", str(gt_dir), "--metrics", "psnr", "--json",
                  str(tmp_path / "fair.json")])  # fmt: skip
    assert alone == 0
    assert (
        table["methods"]["Fair"]["summary"]["psnr"]
        == json.loads((tmp_path / "fair.json").read_text())["summary"]["psnr"]
    )
    assert table["marks"]["Good"]["psnr"] == "best" and table["protocol"]["better"]["niqe"] == "lower"
    worst = table["methods"]["Poor"]["worst"]["psnr"]
    assert len(worst) == 3 and worst[0]["value"] <= worst[-1]["value"]  # lowest PSNR first
    md = (out / "table.md").read_text()
    assert "| method | NIQE↓ | PSNR↑ | SSIM↑ |" in md and "**" in md
    assert "\\textbf{" in (out / "table.tex").read_text() and (out / "table.csv").read_text().startswith("method,")
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[1] == 160 * 5  # input | Good | Fair | Poor | GT
    plot = cv2.imread(str(out / "perception_distortion.png"))
    assert plot is not None and plot.shape == (480, 640, 3)
    assert (out / "Poor.json").is_file() and (out / "Poor.csv").is_file()
