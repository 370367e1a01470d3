"""DataLoader worker set-up: the glibc heap tuning really reaches the worker processes, and a worker that frees a
sample's image buffers gets them back without page faults."""

import platform
import resource

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from gfpgan.data.worker import worker_init
from gfpgan.options import load_options
from gfpgan.utils.malloc import tune_malloc

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


class _ReallocFaults(Dataset):
    """Each item: page faults taken while re-allocating and touching ~90 MB of 6 MB image buffers that were just
    freed (a 512 px sample's temporaries, several times over)."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> torch.Tensor:
        def touch() -> None:
            bufs = [np.ones((1024, 768, 2), np.float32) for _ in range(15)]  # 15 x 6 MiB
            del bufs

        touch()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        touch()
        return torch.tensor(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_worker_init_keeps_freed_image_buffers():
    def faults(init) -> list[int]:
        # spawn: a fresh worker; a forked one inherits the parent's heap, whose free space depends on earlier tests
        loader = DataLoader(_ReallocFaults(), batch_size=1, num_workers=1, worker_init_fn=init,
                            multiprocessing_context="spawn")  # fmt: skip
        return [int(x) for x in loader]

    pages = 15 * 6 * 1024 * 1024 // 4096
    assert min(faults(None)) > pages // 5  # glibc default: the heap above its trim threshold is given back
    assert max(faults(worker_init)) < pages // 20  # tuned: the same pages are reused


def test_tune_malloc_off_glibc_is_a_no_op():
    # applying it in the test process would change its allocator for every later test: only the non-glibc answer is
    # checked here; the effect is checked in a worker above
    if not GLIBC:
        assert tune_malloc() is False


def test_loader_option_defaults_on_and_can_be_switched_off():
    opt, _ = load_options("options/smoke/train_gfpgan.yml", overrides=["datasets.train.tune_malloc=false"])
    assert opt.datasets.train.loader.tune_malloc is False
    opt, _ = load_options("options/smoke/train_gfpgan.yml")
    assert opt.datasets.train.loader.tune_malloc is True
