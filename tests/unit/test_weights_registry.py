"""Known weight files: checksum status of every entry, verified atomic downloads (local ``file://`` URLs and a
patched opener; never the network), missing-file messages, the one-time warning for unverified files, the
``python -m gfpgan.utils.weights`` listing and the download hints of the options report."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import urllib.request
from pathlib import Path

import pytest

from gfpgan.options import load_options
from gfpgan.utils import weights
from gfpgan.utils.weights import (
    KNOWN_WEIGHTS,
    WeightFile,
    WeightsChecksumError,
    WeightsNotFoundError,
    find_known,
    get_weights_path,
    missing_hint,
    target_dir,
)

REPO = Path(__file__).resolve().parents[2]
PAYLOAD = b"not really weights\n" * 1000
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
# The files whose publishers give no checksum (none in the name, none published); see the comment in weights.py.
NO_CHECKSUM = {
    "GFPGANv1.pth",
    "GFPGANCleanv1-NoCE-C2.pth",
    "GFPGANv1.3.pth",
    "GFPGANv1.4.pth",
    "StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth",
    "arcface_resnet18.pth",
    "FFHQ_eye_mouth_landmarks_512.pth",
    "detection_Resnet50_Final.pth",
    "parsing_parsenet.pth",
    "alignment_WFLW_4HG.pth",
    "RealESRGAN_x4plus.pth",
    "RealESRGAN_x2plus.pth",
    "realesr-general-x4v3.pth",
    "realesr-animevideov3.pth",
}


@pytest.fixture
def env(tmp_path, monkeypatch) -> Path:
    """Empty cache, no offline directory, a cwd without experiments/, downloads allowed, warnings not yet given."""
    monkeypatch.setenv("GFPGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GFPGAN_WEIGHTS_DIR", raising=False)
    monkeypatch.delenv("GFPGAN_OFFLINE", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(weights, "_warned_unverified", set())
    return tmp_path


def toy(monkeypatch, tmp_path: Path, **checksums) -> WeightFile:
    """Register ``toy.pth`` served from a local file:// URL with the given sha256 / sha256_prefix / size."""
    source = tmp_path / "server" / "toy.pth"
    source.parent.mkdir(exist_ok=True)
    source.write_bytes(PAYLOAD)
    entry = WeightFile("toy.pth", source.as_uri(), checksums.pop("sha256", None), "toy weights", **checksums)
    monkeypatch.setitem(KNOWN_WEIGHTS, "toy", entry)
    return entry


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# ---------------------------------------------------------------------------------------------------------------------
# The registry


def test_every_known_file_has_a_checksum_status():
    status = {w.filename: w.checksum_status for w in KNOWN_WEIGHTS.values()}
    assert {name for name, s in status.items() if s == "none"} == NO_CHECKSUM
    assert {name for name, s in status.items() if s == "sha256"} == {"lpips_v0.1_alex.pth", "lpips_v0.1_vgg.pth"}
    for w in KNOWN_WEIGHTS.values():
        assert w.size is None  # no size is documented in the repository; never guessed
        assert KNOWN_WEIGHTS[w.filename.rsplit(".", 1)[0]] is w


def test_name_prefixes_are_recorded_as_prefixes():
    """A ``name-<8 hex>.pth`` file carries its sha256 prefix (torch.hub convention): recorded as a prefix, nothing
    more, and every such name has one."""
    for w in KNOWN_WEIGHTS.values():
        match = re.search(r"-([0-9a-f]{8})\.pth$", w.filename)
        assert w.sha256_prefix == (match.group(1) if match else None), w.filename
        if w.sha256_prefix:
            assert w.sha256 is None and w.checksum_status == f"sha256 prefix {w.sha256_prefix}"
    assert KNOWN_WEIGHTS["vgg19-dcbb9e9d"].sha256_prefix == "dcbb9e9d"
    assert KNOWN_WEIGHTS["inception_FFHQ_512-f7b384ab"].sha256_prefix == "f7b384ab"
    assert KNOWN_WEIGHTS["pt_inception-2015-12-05-6726825d"].sha256_prefix == "6726825d"


def test_weight_file_rejects_malformed_checksums():
    with pytest.raises(ValueError, match="x.pth: sha256 must be 64 lowercase hex digits"):
        WeightFile("x.pth", "u", "ABC", "d")
    with pytest.raises(ValueError, match="x.pth: sha256_prefix must be 8 to 63"):
        WeightFile("x.pth", "u", None, "d", sha256_prefix="abc")
    with pytest.raises(ValueError, match="does not start with sha256_prefix"):
        WeightFile("x.pth", "u", PAYLOAD_SHA, "d", sha256_prefix="00000000" if PAYLOAD_SHA[0] != "0" else "11111111")
    assert WeightFile("x.pth", "u", None, "d", size=3).checksum_status == "size 3 bytes"


def test_find_known_and_missing_hint():
    entry = find_known("some/where/arcface_resnet18.pth")
    assert entry is KNOWN_WEIGHTS["arcface_resnet18"]
    assert find_known("arcface_resnet18.pt") is None and find_known("mine.pth") is None
    hint = missing_hint(entry, "experiments/pretrained_models")
    assert hint == f"download {entry.url} into experiments/pretrained_models/"


# ---------------------------------------------------------------------------------------------------------------------
# Missing files


def test_offline_miss_names_file_url_and_folder(env, monkeypatch):
    monkeypatch.setenv("GFPGAN_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError) as info:
        get_weights_path("GFPGANv1.4")
    message = str(info.value)
    assert "\n" not in message and message.startswith("GFPGANv1.4.pth (GFPGAN v1.4")
    assert f"download {KNOWN_WEIGHTS['GFPGANv1.4'].url} into {env / 'experiments' / 'pretrained_models'}/" in message
    assert str(env / "cache") in message and "$GFPGAN_WEIGHTS_DIR" in message

    offline_dir = env / "weights"
    monkeypatch.setenv("GFPGAN_WEIGHTS_DIR", str(offline_dir))
    assert target_dir() == offline_dir
    with pytest.raises(WeightsNotFoundError, match=rf"into {re.escape(str(offline_dir))}/\.$"):
        get_weights_path("arcface_resnet18.pth", download=False)


def test_failed_download_names_file_url_and_folders(env, monkeypatch):
    entry = toy(monkeypatch, env)
    monkeypatch.setitem(KNOWN_WEIGHTS, "toy", WeightFile("toy.pth", entry.url + ".gone", None, "toy weights"))
    with pytest.raises(WeightsNotFoundError) as info:
        get_weights_path("toy")
    message = str(info.value)
    assert "\n" not in message and "toy.pth" in message and f"into {env / 'cache'}/ failed" in message
    assert f"download {entry.url}.gone into {env / 'experiments' / 'pretrained_models'}/" in message
    assert leftovers(env / "cache") == []


# ---------------------------------------------------------------------------------------------------------------------
# Downloads: verified before the atomic rename


@pytest.mark.parametrize(
    "checksums", [{"sha256": PAYLOAD_SHA}, {"sha256_prefix": PAYLOAD_SHA[:8]}, {"size": len(PAYLOAD)}]
)
def test_download_verifies_and_renames(env, monkeypatch, checksums, caplog):
    toy(monkeypatch, env, **checksums)
    with caplog.at_level(logging.WARNING, logger="gfpgan.utils.weights"):
        path = get_weights_path("toy")
    assert path == env / "cache" / "toy.pth" and path.read_bytes() == PAYLOAD
    assert leftovers(env / "cache") == ["toy.pth"]  # no temporary file left
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not the 0600 of the temporary file
    assert not caplog.records  # a verified file is not warned about
    assert get_weights_path("toy.pth", verify=True) == path  # found in the cache now, and still matching


@pytest.mark.parametrize(
    "checksums, problem",
    [
        ({"sha256": "0" * 64}, f"sha256 {PAYLOAD_SHA} instead of {'0' * 64})"),
        ({"sha256_prefix": "00000000"}, f"sha256 {PAYLOAD_SHA} instead of 00000000...)"),
        ({"size": 5}, f"size {len(PAYLOAD)} bytes instead of 5)"),
    ],
)
def test_wrong_checksum_keeps_nothing_and_says_where(env, monkeypatch, checksums, problem):
    entry = toy(monkeypatch, env, **checksums)
    renamed = []
    monkeypatch.setattr(weights.os, "replace", lambda *args: renamed.append(args))
    with pytest.raises(WeightsChecksumError) as info:
        get_weights_path("toy")
    assert renamed == []  # verified before the rename, not after
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"toy.pth downloaded from {entry.url} into {env / 'cache'}/ ") and problem in message
    assert f"download {entry.url} into {env / 'experiments' / 'pretrained_models'}/" in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, WeightsNotFoundError)
    assert not (env / "cache" / "toy.pth").exists() and leftovers(env / "cache") == []


class _BrokenResponse(io.BytesIO):
    """A response that fails half-way, as a dropped connection does."""

    headers = {"Content-Length": str(len(PAYLOAD))}

    def read(self, size: int = -1) -> bytes:
        if self.tell() >= len(PAYLOAD) // 2:
            raise ConnectionResetError("connection reset by peer")
        return super().read(min(size, len(PAYLOAD) // 2))


def test_interrupted_download_leaves_nothing(env, monkeypatch):
    toy(monkeypatch, env, sha256=PAYLOAD_SHA)
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _BrokenResponse(PAYLOAD))
    with pytest.raises(WeightsNotFoundError, match=r"toy\.pth .*failed \(connection reset by peer\)"):
        get_weights_path("toy")
    assert leftovers(env / "cache") == []


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_in_bytes_on_a_terminal_only(env, monkeypatch, capsys):
    entry = toy(monkeypatch, env, sha256=PAYLOAD_SHA)
    (env / "out").mkdir()
    weights._download(entry.url, env / "out" / "quiet.pth", entry)  # stderr captured by pytest: not a terminal
    assert capsys.readouterr().err == ""
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    weights._download(entry.url, env / "out" / "toy.pth", entry)
    shown = terminal.getvalue()
    assert "toy.pth" in shown and "100%" in shown and "18.6k/18.6k" in shown  # 19000 bytes, 1024-based units
    assert leftovers(env / "out") == ["quiet.pth", "toy.pth"]


# ---------------------------------------------------------------------------------------------------------------------
# Local files: verification on request, one warning for unverified ones


def test_verify_local_file(env, monkeypatch):
    toy(monkeypatch, env, sha256_prefix="00000000")
    folder = env / "experiments" / "pretrained_models"
    folder.mkdir(parents=True)
    (folder / "toy.pth").write_bytes(PAYLOAD)
    assert get_weights_path("toy") == Path("experiments/pretrained_models/toy.pth")  # not hashed without verify
    with pytest.raises(WeightsChecksumError, match=r"toy\.pth does not match the known checksum of toy\.pth \(sha256"):
        get_weights_path("toy", verify=True)


def test_unverified_file_warns_once(env, monkeypatch, caplog):
    offline_dir = env / "weights"
    offline_dir.mkdir()
    (offline_dir / "GFPGANv1.4.pth").write_bytes(b"x")
    (offline_dir / "vgg19-dcbb9e9d.pth").write_bytes(b"x")
    monkeypatch.setenv("GFPGAN_WEIGHTS_DIR", str(offline_dir))
    with caplog.at_level(logging.WARNING, logger="gfpgan.utils.weights"):
        assert get_weights_path("GFPGANv1.4") == offline_dir / "GFPGANv1.4.pth"
        get_weights_path("GFPGANv1.4.pth")
        get_weights_path("vgg19-dcbb9e9d")  # has a checksum (prefix): no warning
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "\n" not in messages[0]
    assert "no checksum is known for GFPGANv1.4.pth" in messages[0] and KNOWN_WEIGHTS["GFPGANv1.4"].url in messages[0]


# ---------------------------------------------------------------------------------------------------------------------
# python -m gfpgan.utils.weights


def test_listing(env, monkeypatch, capsys):
    toy(monkeypatch, env, sha256_prefix="00000000")
    folder = env / "experiments" / "pretrained_models"
    folder.mkdir(parents=True)
    (folder / "toy.pth").write_bytes(PAYLOAD)
    assert weights.main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["file", "checksum", "status", "folder", "url"]
    rows = {line.split()[0]: line for line in lines[1 : len(KNOWN_WEIGHTS) + 1]}
    assert set(rows) == {w.filename for w in KNOWN_WEIGHTS.values()}
    for w in KNOWN_WEIGHTS.values():
        assert w.checksum_status in rows[w.filename] and rows[w.filename].endswith(w.url)
    assert f"missing  {folder}/" in rows["GFPGANv1.4.pth"]
    assert "found    experiments/pretrained_models/" in rows["toy.pth"]
    assert lines[-1].startswith(f"Missing files go into {folder}/") and "No checksum is known for 14 files" in lines[-1]

    assert weights.main(["--verify"]) == 1
    assert "MISMATCH (sha256" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------------------------
# Options report


def test_options_report_says_where_to_get_known_weights(env):
    _, report = load_options(REPO / "options" / "train_gfpgan.yml")
    arcface = KNOWN_WEIGHTS["arcface_resnet18"].url
    assert (
        "missing: path.pretrain_network_identity: experiments/pretrained_models/arcface_resnet18.pth "
        f"(download {arcface} into experiments/pretrained_models/)"
    ) in report.problems
    decoder = next(p for p in report.problems if p.startswith("missing: network_g.decoder_load_path"))
    assert KNOWN_WEIGHTS["StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k"].url in decoder
    assert "missing: datasets.train.dataroot_gt: datasets/ffhq/ffhq_512" in report.problems  # not a weight file: as is
    assert "path.pretrain_network_identity: experiments/pretrained_models/arcface_resnet18.pth" in report.missing_paths
