"""DataLoader worker set-up: each worker keeps freed image buffers in its heap (glibc; see gfpgan/utils/malloc.py for
why: at 512 px this halves the time of a sample on the benchmark machine). Option ``tune_malloc`` of a dataset's loader
block (default on) passes :func:`worker_init` as the DataLoader's ``worker_init_fn``."""

from __future__ import annotations

from gfpgan.utils.malloc import tune_malloc

__all__ = ["worker_init"]


def worker_init(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=...)``: tune this worker's heap. (Sample randomness needs no seeding here: it
    comes from each sample's (seed, epoch, index).)"""
    del worker_id
    tune_malloc()
