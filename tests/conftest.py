"""Shared test configuration: the sibling ``shared/`` folder (optional) and the GPU marker."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# The suite runs tiny networks: intra-op threads cost more than they give, and a single thread keeps float reductions
# in one order from run to run.
torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def single_thread():
    """One intra-op thread for a whole module, restored after it (``pytestmark = pytest.mark.usefixtures(...)``):
    tiny networks on a shared 2-core machine, where extra threads only contend (~15x slower), whatever an earlier
    test set."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def shared_dir() -> Path:
    """../shared beside the repository (the spec); tests using it skip without it. The official key listings the tests
    need are copied into tests/data/keys/."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present beside the repository")
    return SHARED


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture(autouse=True)
def _fresh_gfpgan_logger():
    """A training run in this process configures the "gfpgan" logger (own handlers, no propagation, a run's log
    file); undo that after each test so that the next one sees the default logger (and pytest's caplog works)."""
    yield
    import logging

    log = logging.getLogger("gfpgan")
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    log.propagate = True
    log.setLevel(logging.NOTSET)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, request):
    """One working folder per test module, made the current directory: generated data (synthetic faces) and run
    folders (experiments/, tb_logger/) are created once and shared by the module's runs."""
    import os

    path = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    old = os.getcwd()
    os.chdir(path)
    yield path
    os.chdir(old)
