"""Checkpoints you can trust: verified states, fallback past damaged ones, safe retention, full disks, stale files."""

from __future__ import annotations

import errno
import logging

import pytest
import torch

from gfpgan.utils import checkpoint as C


def _state(it: int, value: float = 1.0) -> dict:
    return {"iter": it, "nets": {"net_g": {"w": torch.full((64, 64), value), "step": torch.tensor(3)}}}


def _save_run(tmp_path, iterations):
    states = tmp_path / "training_states"
    for it in iterations:
        C.save_verified_state(_state(it), states / f"{it}.state")
        C.atomic_save({"params": {}}, tmp_path / "models" / f"net_g_{it}.pth")
    return states


def _zero_middle(path):
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 512] = bytes(512)
    path.write_bytes(bytes(data))


def test_a_verified_state_has_a_sidecar_and_detects_damage_anywhere(tmp_path):
    states = _save_run(tmp_path, [2])
    path = states / "2.state"
    assert (states / "2.state.sha256").is_file() and C.verify_state(path) is None
    _zero_middle(path)  # torch.load(mmap=True) would still accept this file: only the zip index is read
    assert "does not match its recorded sha256" in C.verify_state(path)
    path.write_bytes(path.read_bytes()[:-100])
    assert "bytes" in C.verify_state(path)


@pytest.mark.parametrize("damage", ["truncated", "zeroed"])
def test_auto_resume_falls_back_past_a_damaged_newest_state(tmp_path, damage, caplog):
    states = _save_run(tmp_path, [2, 4, 6])
    newest = states / "6.state"
    if damage == "truncated":
        newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    else:
        _zero_middle(newest)
    with caplog.at_level(logging.WARNING, logger="gfpgan"):
        assert C.find_resume_state(states) == states / "4.state"
    assert "skipping damaged training state" in caplog.text and "6.state" in caplog.text


def test_states_without_sidecar_are_checked_in_full(tmp_path):
    states = tmp_path / "training_states"
    C.atomic_save(_state(2), states / "2.state")  # as written by earlier versions: no sidecar
    C.atomic_save(_state(4, float("nan")), states / "4.state")
    (states / "6.state").write_bytes(b"PK\x03\x04 not a zip")
    assert "non-finite parameters" in C.verify_state(states / "4.state")
    assert C.find_resume_state(states) == states / "2.state"


def test_pruning_never_counts_or_keeps_a_damaged_state_in_place_of_a_good_one(tmp_path):
    """The reported failure: a damaged state numbered above the good ones, keep 1, used to delete every good one."""
    states = _save_run(tmp_path, [2, 4])
    (states / "100.state").write_bytes((states / "4.state").read_bytes()[:1000])  # damaged, no sidecar
    C.prune_checkpoints(tmp_path, keep=1)
    assert sorted(p.name for p in states.glob("*.state")) == ["100.state", "4.state"]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["net_g_4.pth"]
    assert C.find_resume_state(states) == states / "4.state"
    # a damaged sidecar'd state (size changed) does not count either
    _save_run(tmp_path, [6])
    (states / "6.state").write_bytes((states / "6.state").read_bytes()[:-10])
    C.prune_checkpoints(tmp_path, keep=1)
    assert (states / "4.state").is_file() and C.find_resume_state(states) == states / "4.state"


def test_pruning_keeps_the_newest_verified_states(tmp_path):
    states = _save_run(tmp_path, [2, 4, 6, 8])
    C.atomic_save(_state(1), states / "1.state")  # an old unverified state: removed with the others
    C.prune_checkpoints(tmp_path, keep=2)
    assert sorted(p.name for p in states.iterdir()) == ["6.state", "6.state.sha256", "8.state", "8.state.sha256"]


def test_non_finite_networks_are_never_saved(tmp_path):
    with pytest.raises(RuntimeError, match="non-finite parameters in net_g/w"):
        C.save_verified_state(_state(2, float("inf")), tmp_path / "2.state")
    assert not list(tmp_path.iterdir())


def test_a_full_disk_is_one_line_and_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "training_states" / "2.state"
    C.save_verified_state(_state(2), path)
    before = path.read_bytes()

    def full(obj, f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(C.torch, "save", full)
    with pytest.raises(C.CheckpointWriteError) as info:
        C.save_verified_state(_state(2, 2.0), path)
    message = str(info.value)
    assert "\n" not in message and str(path.parent) in message and "no space left writing 2.state" in message
    assert "needs about" in message and "MiB free" in message
    assert path.read_bytes() == before and C.verify_state(path) is None
    assert sorted(p.name for p in path.parent.iterdir()) == ["2.state", "2.state.sha256"]  # no temporary left


def test_stale_temporaries_are_removed_and_counted(tmp_path):
    (tmp_path / ".4.state.abc123.tmp").write_bytes(b"x" * 1000)
    (tmp_path / ".net_g_4.pth.zz.tmp").write_bytes(b"y" * 24)
    (tmp_path / "4.state").write_bytes(b"keep")
    assert C.remove_stale_temporaries(tmp_path, tmp_path / "missing") == (2, 1024)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["4.state"]
