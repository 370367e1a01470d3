"""gfpgan-eval at scale: an interrupted run resumes from its cache with the same numbers; protocol presets print
their plan and refuse contradicting options; LMD is wired in. Tiny generated images, seeded weights, no download."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_metrics_seeded import seeded_images, seeded_state_dict  # noqa: E402

from gfpgan.cli import evaluate  # noqa: E402
from gfpgan.metrics.identity import IdentityDistance  # noqa: E402
from gfpgan.metrics.lpips import LPIPS  # noqa: E402
from gfpgan.metrics.psnr_ssim import PSNR  # noqa: E402

NAMES = [f"{i:02d}.png" for i in range(6)]


def write_folder(folder: Path, images: list[np.ndarray], names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, img in zip(names, images):
        cv2.imwrite(str(folder / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """Six 100x104 pairs and seeded weight files for LPIPS (alex), ArcFace and the FID Inception."""
    from gfpgan.archs.arcface import ResNetArcFace
    from gfpgan.metrics.fid import FIDInceptionV3
    from gfpgan.metrics.lpips import LPIPSNet

    root = tmp_path_factory.mktemp("scale")
    gt = seeded_images(50, 6, 100, 104)
    rng = np.random.default_rng(51)
    write_folder(root / "gt", gt, NAMES)
    write_folder(
        root / "restored", [np.clip(g + rng.normal(0, 9, g.shape), 0, 255).astype(np.uint8) for g in gt], NAMES
    )
    torch.manual_seed(0)
    torch.save(LPIPSNet("alex").state_dict(), root / "lpips_alex.pth")
    arcface = ResNetArcFace(block="IRBlock", layers=[2, 2, 2, 2], use_se=False)
    torch.save(seeded_state_dict({k: tuple(v.shape) for k, v in arcface.state_dict().items()}, 6), root / "arc.pth")
    shapes = {k: tuple(v.shape) for k, v in FIDInceptionV3().state_dict().items()}
    torch.save(seeded_state_dict(shapes, 7), root / "inception.pth")
    return {
        "restored": root / "restored",
        "gt": root / "gt",
        "lpips": root / "lpips_alex.pth",
        "arc": root / "arc.pth",
        "inception": root / "inception.pth",
    }


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("GFPGAN_WEIGHTS_DIR", str(tmp_path / "no_weights"))
    monkeypatch.setenv("GFPGAN_OFFLINE", "1")
    monkeypatch.setenv("GFPGAN_CACHE_DIR", str(tmp_path / "no_cache"))
    monkeypatch.chdir(tmp_path)  # no experiments/pretrained_models here either


def _argv(data: dict[str, Path], out: Path) -> list[str]:
    return [
        "--restored", str(data["restored"]), "--gt", str(data["gt"]), "--out", str(out), "--names", "m",
        "--metrics", "lpips", "deg", "psnr", "ssim", "niqe", "kid",
        "--lpips-net", "alex", "--lpips-weights", str(data["lpips"]), "--arcface-weights", str(data["arc"]),
        "--fid-inception-weights", str(data["inception"]), "--batch-size", "2", "--device", "cpu",
    ]  # fmt: skip


def _counting(monkeypatch) -> dict[str, int]:
    """Count the work done: PSNR and LPIPS updates, Deg pairs, images through the Inception network."""
    counts = {"psnr": 0, "lpips": 0, "deg": 0, "inception_images": 0}
    psnr_update, lpips_update = PSNR.update, LPIPS.update
    deg_batch = IdentityDistance.update_batch
    features = evaluate.inception_features

    def count(name, fn, n=lambda *a: 1):
        def wrapped(*a, **k):
            counts[name] += n(*a)
            return fn(*a, **k)

        return wrapped

    monkeypatch.setattr(PSNR, "update", count("psnr", psnr_update))
    monkeypatch.setattr(LPIPS, "update", count("lpips", lpips_update))
    monkeypatch.setattr(IdentityDistance, "update_batch", count("deg", deg_batch, lambda s, r, g: len(r)))
    monkeypatch.setattr(evaluate, "inception_features", count("inception_images", features, lambda imgs, *a: len(imgs)))
    return counts


def _scores(out: Path) -> dict:
    report = json.loads((out / "m.json").read_text())
    return {"summary": report["summary"], "per_image": report["per_image"]}


def test_interrupted_run_resumes_from_cache_with_the_same_numbers(data, offline, tmp_path, capsys, monkeypatch):
    """Chunks of 2 pairs; the run is killed by an error inside PSNR on pair 3 (chunk 1, after LPIPS and Deg scored
    it). The rerun takes chunk 0 and chunk 1's LPIPS/Deg values and chunk 0's Inception features from the cache,
    ignores a torn last line, computes only the rest, and ends with exactly the numbers of an uninterrupted run."""
    assert evaluate.main(_argv(data, tmp_path / "whole")) == 0
    whole = _scores(tmp_path / "whole")
    capsys.readouterr()

    calls = {"n": 0}
    psnr_update = PSNR.update

    def dies_on_fourth(self, restored, gt):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # as a Ctrl-C or a kill between two writes
        return psnr_update(self, restored, gt)

    with monkeypatch.context() as m:
        m.setattr(PSNR, "update", dies_on_fourth)
        assert evaluate.main(_argv(data, tmp_path / "resumed")) == 130
    values_file = tmp_path / "resumed" / "cache" / "m.jsonl"
    records = [json.loads(line) for line in values_file.read_text().splitlines()]
    written = Counter(r["m"].split("-")[0] for r in records)
    assert written == {"lpips": 4, "deg": 4, "psnr": 2, "ssim": 2, "niqe": 2}  # chunk 0, and LPIPS/Deg of chunk 1
    with open(values_file, "a") as f:
        f.write('{"m": "psnr-0123", "p": "04.png|1')  # a write torn by a kill
    capsys.readouterr()

    counts = _counting(monkeypatch)
    assert evaluate.main(_argv(data, tmp_path / "resumed")) == 0
    assert "m: resumed: 2 of 6 pairs from cache" in capsys.readouterr().err
    assert counts == {"psnr": 4, "lpips": 2, "deg": 2, "inception_images": 8}  # pairs 2-5; LPIPS/Deg: 4-5
    assert _scores(tmp_path / "resumed") == whole

    counts.update(dict.fromkeys(counts, 0))
    assert evaluate.main(_argv(data, tmp_path / "resumed")) == 0  # everything cached now: no work at all
    assert "m: resumed: 6 of 6 pairs from cache" in capsys.readouterr().err
    assert counts == {"psnr": 0, "lpips": 0, "deg": 0, "inception_images": 0}
    assert _scores(tmp_path / "resumed") == whole


def test_cache_misses_on_a_changed_file_or_protocol(data, offline, tmp_path, capsys, monkeypatch):
    """A rewritten image is scored again (its pair only); another protocol (crop border) uses other keys;
    --no-cache computes everything and writes nothing."""
    restored = tmp_path / "restored"
    restored.mkdir()
    for name in NAMES:
        (restored / name).write_bytes((data["restored"] / name).read_bytes())
    argv = ["--restored", str(restored), "--gt", str(data["gt"]), "--metrics", "psnr", "--names", "m", "--device",
            "cpu", "--cache", str(tmp_path / "c")]  # fmt: skip
    assert evaluate.main(argv) == 0
    counts = _counting(monkeypatch)
    img = cv2.imread(str(restored / "03.png"))
    cv2.imwrite(str(restored / "03.png"), 255 - img)
    assert evaluate.main(argv) == 0
    assert "resumed: 5 of 6 pairs" in capsys.readouterr().err and counts["psnr"] == 1
    assert evaluate.main([*argv, "--crop-border", "4"]) == 0
    assert "resumed: 0 of 6 pairs" in capsys.readouterr().err and counts["psnr"] == 7
    assert evaluate.main([*argv[:-2], "--out", str(tmp_path / "o"), "--no-cache"]) == 0
    assert counts["psnr"] == 13 and not (tmp_path / "o" / "cache").exists()
    assert "resumed" not in capsys.readouterr().err


def _fails(argv: list[str], capsys) -> str:
    assert evaluate.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_protocol_prints_its_plan_and_skips_with_hints(data, offline, tmp_path, capsys):
    """--protocol pmrf offline, without FFHQ or the LPIPS/LMD weights: the plan names every metric with every option
    and source; what cannot run says why in one line; the rest is scored with the preset's settings."""
    argv = [
        "--protocol",
        "pmrf",
        "--restored",
        str(data["restored"]),
        "--gt",
        str(data["gt"]),
        "--arcface-weights",
        str(data["arc"]),
        "--lpips-net",
        "vgg",
    ]  # fmt: skip  (the preset's own value: accepted)
    assert evaluate.main(argv) == 0
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    assert out[0].startswith("protocol pmrf: PMRF") and "ohayonguy/PMRF evaluation/compute_metrics_blind.py" in out[1]
    plan = "\n".join(out)
    expected = [
        "lpips net=vgg",
        "kid   ref_dir=None",
        "subsets=100, subset_size=1000",
        "deg   weights=",
        "niqe  crop_border=0, variant=basicsr",
        "skip_below_deg=1.0",
        "psnr  crop_border=0, test_y_channel=False",
    ]
    for line in expected:
        assert line in plan, line
    assert "SKIPPED: --protocol pmrf: FID/KID compare with FFHQ at 512 px: pass --fid-ref DIR" in plan
    assert "SKIPPED: alignment_WFLW_4HG.pth" in plan and "SKIPPED: vgg16-397923af.pth" in plan
    assert "not run: IS, precision/recall" in plan
    table = next(i for i, line in enumerate(out) if line.split()[:1] == ["Deg"])
    assert out[table].split() == ["Deg", "PSNR", "SSIM"]  # BasicSR's NIQE cannot score 100 px faces: said why
    assert "skip_below_deg=1.0" in out[table + 2] and "test_y_channel=False" in out[table + 2]
    assert "not scored niqe: 00.png: NIQE (variant basicsr)" in captured.err
    assert "skipped fid: --protocol pmrf" in captured.err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--protocol", "pmrf", "--lpips-net", "alex"], "--protocol pmrf fixes --lpips-net = vgg (you gave alex)"),
        (["--protocol", "gfpgan", "--metrics", "psnr"], "--protocol gfpgan runs lpips, fid, niqe, deg, psnr, ssim"),
        (["--protocol", "gfpgan", "--test-y-channel"], "--protocol gfpgan fixes --test-y-channel = False"),
        (["--protocol", "codeformer", "--fid-ref", "x"], "--protocol codeformer compares FID with inception_FFHQ"),
        (["--protocol", "pmrf", "--fid-stats", "s.npz"], "--protocol pmrf compares with a folder (--fid-ref DIR)"),
        (["--protocol", "codeformer", "--niqe-variant", "matlab"], "--protocol codeformer does not use --niqe-variant"),
    ],
)
def test_protocol_refuses_contradicting_options(data, offline, capsys, extra, message):
    assert message in _fails(["--restored", str(data["restored"]), "--gt", str(data["gt"]), *extra], capsys)


def test_gfpgan_protocol_without_ffhq_statistics_offline(data, offline, capsys):
    argv = ["--protocol", "gfpgan", "--restored", str(data["restored"]), "--gt", str(data["gt"]), "--arcface-weights",
            str(data["arc"])]  # fmt: skip
    assert evaluate.main(argv) == 0
    out = capsys.readouterr().out
    assert "fid   stats=None" in out and "SKIPPED: inception_FFHQ_512-f7b384ab.pth" in out
    assert "niqe  crop_border=0, variant=basicsr" in out and "unverified" in out


def test_lmd_with_weights_file_and_default_set(data, offline, tmp_path, capsys):
    """--metrics lmd --lmd-weights FILE scores the pairs as the metric object does; the default set includes LMD only
    when its weights are at hand, else says why."""
    from lmd_inputs import fill_state

    from gfpgan.archs.awing import FAN
    from gfpgan.metrics.fid import read_rgb
    from gfpgan.metrics.landmark import LandmarkDistance

    weights = tmp_path / "awing.pth"
    torch.save({"state_dict": fill_state(FAN(num_modules=4, num_landmarks=98).state_dict())}, weights)
    for side in ("restored", "gt"):  # two pairs: the FAN is the slow part
        (tmp_path / side).mkdir()
        for name in NAMES[:2]:
            (tmp_path / side / name).write_bytes((data[side] / name).read_bytes())
    argv = ["--restored", str(tmp_path / "restored"), "--gt", str(tmp_path / "gt"), "--device", "cpu", "--json",
            str(tmp_path / "s.json")]  # fmt: skip
    assert evaluate.main([*argv, "--metrics", "psnr", "lmd", "--lmd-weights", str(weights)]) == 0
    assert capsys.readouterr().out.splitlines()[0].split() == ["PSNR", "LMD"]
    metric = LandmarkDistance(weights=str(weights))
    for name in NAMES[:2]:
        metric.update(read_rgb(data["restored"] / name), read_rgb(data["gt"] / name))
    report = json.loads((tmp_path / "s.json").read_text())
    assert [report["per_image"][n]["lmd"] for n in NAMES[:2]] == pytest.approx(metric.per_image, rel=1e-9)

    assert evaluate.main(argv) == 0  # default set, no LMD weights anywhere: left out with the hint
    assert "skipped lmd: alignment_WFLW_4HG.pth" in capsys.readouterr().err
    assert evaluate.main([*argv, "--lmd-weights", str(weights)]) == 0  # given: in the default set
    assert "LMD" in capsys.readouterr().out.splitlines()[0].split()
