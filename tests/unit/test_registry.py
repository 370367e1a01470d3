"""Registry: explicit registration, duplicate names, suggestions, signature checks and coercion."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import pytest

import gfpgan
from gfpgan.options import coerce
from gfpgan.registry import ARCHS, DATASETS, LOSSES, METRICS, OptionError, Registry


class Toy:
    def __init__(
        self,
        out_size: int,
        lr: float = 1e-3,
        kernel: Sequence[int] = (1, 3, 3, 1),
        mode: Literal["a", "b"] = "a",
        path: str | None = None,
        flag: bool = False,
        pair: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        self.kwargs = dict(out_size=out_size, lr=lr, kernel=kernel, mode=mode, path=path, flag=flag, pair=pair)


@pytest.fixture
def reg() -> Registry:
    r = Registry("toy")
    r.register()(Toy)
    return r


def test_duplicate_name_names_both_modules(reg):
    class Toy2:
        pass

    with pytest.raises(KeyError) as e:
        reg.register("Toy")(Toy2)
    assert "test_registry.Toy" in str(e.value) and "test_registry.test_duplicate_name_names_both_modules" in str(
        e.value
    )


def test_unknown_name_suggests_and_lists(reg):
    with pytest.raises(OptionError, match=r"network_g.type: unknown toy 'Tyo'. Did you mean 'Toy'\? Known toys: Toy"):
        reg.build({"type": "Tyo"}, where="network_g")


def test_unknown_key_names_path_and_nearest(reg):
    with pytest.raises(OptionError, match=r"network_g.out_szie: unknown option for Toy. Did you mean 'out_size'\?"):
        reg.build({"type": "Toy", "out_szie": 3}, where="network_g")


def test_missing_key_is_reported_before_construction(reg):
    with pytest.raises(OptionError, match=r"network_g: missing required option\(s\) out_size"):
        reg.build({"type": "Toy"}, where="network_g")


def test_coercion_by_annotation(reg):
    obj = reg.build(
        {"type": "Toy", "out_size": "64", "lr": "2e-3", "kernel": [1, 2], "flag": "true", "pair": [0, 1]}, where="x"
    )
    assert obj.kwargs["out_size"] == 64 and obj.kwargs["lr"] == pytest.approx(2e-3)
    assert obj.kwargs["kernel"] == [1, 2] and obj.kwargs["flag"] is True
    assert obj.kwargs["pair"] == (0.0, 1.0) and all(isinstance(v, float) for v in obj.kwargs["pair"])


@pytest.mark.parametrize(
    ("value", "annotation", "message"),
    [
        ("c", Literal["a", "b"], "is not one of"),
        ("abc", float, "expected a number"),
        (1.5, int, "expected an integer"),
        (3, str, "expected a string"),
        ([1, 2, 3], tuple[float, float], "expected 2 values"),
        ("maybe", bool, "expected true or false"),
    ],
)
def test_coercion_errors(value, annotation, message):
    with pytest.raises(OptionError, match=message):
        coerce(value, annotation, "a.b")


def test_optional_and_union():
    assert coerce(None, float | None, "x") is None
    assert coerce("5e3", int | None, "x") == 5000
    assert coerce("auto", int | Literal["auto"], "x") == "auto"
    assert coerce(2, int | Literal["auto"], "x") == 2


def test_functions_are_bound_with_partial():
    r = Registry("fn")

    @r.register()
    def scale(x: float, factor: float = 1.0) -> float:
        return x * factor

    f = r.build({"type": "scale", "factor": "3"}, where="m")
    assert f(2.0) == 6.0


def test_every_module_is_imported_by_the_package():
    """Registration is explicit: every module of the registering packages must be imported by `import gfpgan`."""
    for package in (gfpgan.archs, gfpgan.losses, gfpgan.data, gfpgan.metrics):
        init = Path(package.__file__).read_text()
        for info in pkgutil.iter_modules(package.__path__):
            name = f"{package.__name__}.{info.name}"
            assert name in sys.modules, f"{name} is not imported by {package.__name__}/__init__.py"
            assert re.search(rf"\b{info.name}\b", init), f"{package.__name__}/__init__.py does not import {info.name}"


def test_registries_are_filled():
    for name in ("GFPGANv1", "GFPGANv1Clean", "GFPGANBilinear", "StyleGAN2Discriminator", "ResNetArcFace"):
        assert name in ARCHS
    for name in ("L1Loss", "PerceptualLoss", "GANLoss"):
        assert name in LOSSES
    for name in ("FFHQDegradationDataset", "PairedImageDataset", "SingleImageDataset"):
        assert name in DATASETS
    for name in ("calculate_psnr", "calculate_ssim"):
        assert name in METRICS


def test_module_main_lists_names_and_signatures():
    out = subprocess.run([sys.executable, "-m", "gfpgan.registry"], capture_output=True, text=True, check=True).stdout
    assert "GFPGANv1Clean(out_size" in out and "L1Loss(" in out and "FFHQDegradationDataset(" in out
