"""Reading and writing weights: official layouts, clear errors, safe loading."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from gfpgan.archs.discriminators import FacialComponentDiscriminator
from gfpgan.utils.state_dict import (
    CheckpointError,
    RefusedPickleError,
    load_weights,
    read_state_dict,
    safe_load,
    save_generator_checkpoint,
)


class Tiny(nn.Module):
    def __init__(self, c: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, c, 3)
        self.head = nn.Linear(c, 2)


def test_save_and_read_official_layout(tmp_path):
    net, ema = Tiny(), Tiny()
    path = save_generator_checkpoint(tmp_path / "sub" / "net_g.pth", net.state_dict(), ema.state_dict())
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"params", "params_ema"}
    assert not list(path.parent.glob("*.tmp"))  # atomic write leaves no temporary file
    auto = read_state_dict(path)  # auto = params_ema first
    assert all(torch.equal(auto[k], v) for k, v in ema.state_dict().items())
    params = read_state_dict(path, "params")
    assert all(torch.equal(params[k], v) for k, v in net.state_dict().items())
    only = save_generator_checkpoint(tmp_path / "p.pth", net.state_dict())
    assert all(torch.equal(read_state_dict(only)[k], v) for k, v in net.state_dict().items())


def test_raw_state_dict_with_module_prefix(tmp_path):
    net = Tiny()
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, tmp_path / "arcface.pth")
    loaded = load_weights(Tiny(), tmp_path / "arcface.pth", param_key=None)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in net.state_dict().items())


def test_safetensors(tmp_path):
    safetensors = pytest.importorskip("safetensors.torch")
    net = Tiny()
    safetensors.save_file(net.state_dict(), str(tmp_path / "w.safetensors"))
    loaded = load_weights(Tiny(), tmp_path / "w.safetensors")
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in net.state_dict().items())


def test_mismatch_lists_keys_shapes_and_file(tmp_path):
    state = Tiny(c=5).state_dict()
    state["extra.weight"] = torch.zeros(2)
    del state["head.bias"]
    path = save_generator_checkpoint(tmp_path / "wrong.pth", state, state)
    with pytest.raises(CheckpointError) as err:
        load_weights(Tiny(c=4), path)
    msg = str(err.value)
    assert "wrong.pth" in msg
    assert "1 missing" in msg and "head.bias (2,)" in msg
    assert "1 unexpected" in msg and "extra.weight (2,)" in msg
    assert "conv.weight: file (5, 3, 3, 3) vs network (4, 3, 3, 3)" in msg


def test_mismatch_list_is_truncated():
    net = FacialComponentDiscriminator()
    state = {f"junk.{i}": torch.zeros(1) for i in range(30)}
    with pytest.raises(CheckpointError, match=r"30 unexpected:[\s\S]*and 10 more") as err:
        load_weights(net, state)
    assert "12 missing" in str(err.value)


def test_non_strict_loads_matching_keys():
    src = Tiny()
    partial = {k: v for k, v in src.state_dict().items() if k.startswith("conv.")}
    dst = load_weights(Tiny(), partial, strict=False)
    assert torch.equal(dst.conv.weight, src.conv.weight)


def test_bad_files_are_named(tmp_path):
    bad = tmp_path / "not_weights.pth"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="not_weights.pth"):
        read_state_dict(bad)
    with pytest.raises(CheckpointError, match="not found"):
        read_state_dict(tmp_path / "missing.pth")
    torch.save({"params": {"a": torch.zeros(1)}}, tmp_path / "k.pth")
    with pytest.raises(CheckpointError, match="no entry 'params_ema'"):
        read_state_dict(tmp_path / "k.pth", "params_ema")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="list.pth holds a list"):
        read_state_dict(tmp_path / "list.pth")


class _Evil:
    def __reduce__(self):
        return (print, ("executed",))


def test_pickled_code_is_not_executed(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"params": _Evil()}, f, protocol=2)
    with pytest.raises(CheckpointError, match="evil.pth"):
        read_state_dict(path)
    assert "executed" not in capsys.readouterr().out


def test_safe_load_numpy_only_when_asked(tmp_path):
    stats = {"mean": np.arange(3, dtype=np.float64), "eye": [np.float64(1.5), np.float32(2.0)], "t": torch.ones(2)}
    torch.save(stats, tmp_path / "np.pth")
    with pytest.raises(RefusedPickleError, match=r"np\.pth was not loaded"):
        safe_load(tmp_path / "np.pth")
    loaded = safe_load(tmp_path / "np.pth", allow_numpy=True)
    np.testing.assert_array_equal(loaded["mean"], stats["mean"])
    assert loaded["eye"] == [1.5, 2.0] and loaded["eye"][1].dtype == np.float32
    # files pickled under numpy 1.x name numpy.core.multiarray (the official ones): the legacy format's protocol-2
    # pickles spell globals as text lines, so the module can be renamed in place
    buffer = io.BytesIO()
    torch.save(stats, buffer, _use_new_zipfile_serialization=False)
    assert b"numpy._core.multiarray\n" in buffer.getvalue()
    (tmp_path / "np1.pth").write_bytes(buffer.getvalue().replace(b"numpy._core.", b"numpy.core."))
    np.testing.assert_array_equal(safe_load(tmp_path / "np1.pth", allow_numpy=True)["mean"], stats["mean"])


def test_safe_load_refuses_code_with_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"a": np.float64(1.0), "b": _Evil()}, path)
    for allow_numpy in (False, True):
        with pytest.raises(pickle.UnpicklingError) as err:  # RefusedPickleError is one too
            safe_load(path, allow_numpy=allow_numpy)
        assert isinstance(err.value, CheckpointError) and str(path) in str(err.value)
        assert "\n" not in str(err.value)
    assert "executed" not in capsys.readouterr().out
    assert "Unsupported global" in str(err.value) and "print" in str(err.value)
    (tmp_path / "junk.pth").write_bytes(b"this is not a checkpoint")
    for bad in (tmp_path / "junk.pth", tmp_path / "missing.pth"):
        with pytest.raises(CheckpointError, match=bad.name) as err:
            safe_load(bad)
        assert "\n" not in str(err.value)
