"""glibc heap settings for processes that churn through image-sized numpy arrays (data workers, evaluation).

Every degradation step of a 512 px sample, and every stage of NIQE / SSIM on a 512 px image, makes 2-5 MB
temporaries. When they are freed, glibc gives the top of the heap back to the system as soon as it exceeds
``M_TRIM_THRESHOLD`` (by default twice the dynamic mmap threshold, at most 64 MiB), and blocks above the mmap threshold
are unmapped on ``free``; either way the next image touches brand-new pages again: one page fault per 4 KiB. Measured
on the 2-core benchmark machine: ~7,000 faults per 512 px training sample, about half of its time (28 ms per sample
against 14 ms with the heap kept), and ~2,900 per NIQE call (17.5 ms against 10.5 ms). A fixed 32 MiB
``M_MMAP_THRESHOLD`` keeps every image-sized block on the heap, and a 256 MiB ``M_TRIM_THRESHOLD`` keeps the freed heap
for the next image. The cost is memory a process keeps between images: about its own peak working set.

Applied by the programs, never by library functions: DataLoader workers (``gfpgan.data.worker.worker_init``, option
``tune_malloc`` of a dataset's loader block), and the evaluation programs ``gfpgan-eval`` / ``gfpgan-test`` when run as
programs; not by the training process itself. A no-op where the C library is not glibc (macOS, musl, Windows).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "tune_malloc"]

MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's upper bound for M_MMAP_THRESHOLD on 64-bit systems
TRIM_THRESHOLD = 256 * 1024 * 1024

# from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_malloc(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Keep freed blocks below ``mmap_threshold`` bytes in this process's heap. Returns whether it was applied
    (False where the C library is not glibc or refuses the values)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success, 0 on error
    mmap_ok = mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))
    return bool(mmap_ok) and bool(mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
