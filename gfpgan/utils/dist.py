"""Distributed helpers: torchrun (env://) and slurm launchers, rank queries, gradient averaging.

Single-process runs (CPU or one GPU) use the same code path: every function degrades to a no-op.
"""

from __future__ import annotations

import datetime
import os
import subprocess
from collections.abc import Iterable, Sequence

import torch
import torch.distributed as dist

__all__ = [
    "agree",
    "all_reduce_grads",
    "barrier",
    "broadcast_params",
    "get_rank",
    "get_world_size",
    "init_dist",
    "is_main",
]


def init_dist(
    launcher: str, backend: str | None = None, port: int = 29500, timeout_minutes: float = 30.0
) -> tuple[int, int, int]:
    """Join the process group; return (rank, world_size, local_rank).

    launcher: "none" (single process), "pytorch" (torchrun: RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT from the
    environment; works across nodes with ``torchrun --nnodes N --node_rank i --master_addr A``), or "slurm"
    (SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID; the master is the first host of SLURM_NODELIST, port from dist_params).
    backend: ~ picks nccl when CUDA is available, else gloo.
    timeout_minutes: a collective that waits longer than this (a rank died, hung or took another path) fails with an
    error instead of waiting forever.
    """
    if launcher == "none":
        return 0, 1, 0
    if launcher == "pytorch":
        missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
        if missing:
            raise RuntimeError(
                f"--launcher pytorch needs the environment torchrun sets ({', '.join(missing)} missing): run "
                "`torchrun --nproc_per_node=N train.py -opt FILE --launcher pytorch`."
            )
        rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
    elif launcher == "slurm":
        rank, world_size = int(os.environ["SLURM_PROCID"]), int(os.environ["SLURM_NTASKS"])
        local_rank = int(os.environ.get("SLURM_LOCALID", rank % max(torch.cuda.device_count(), 1)))
        if "MASTER_ADDR" not in os.environ:
            nodes = os.environ["SLURM_NODELIST"]
            first = subprocess.check_output(["scontrol", "show", "hostname", nodes], text=True).split()[0]
            os.environ["MASTER_ADDR"] = first
        os.environ.setdefault("MASTER_PORT", str(port))
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(local_rank))
    else:
        raise ValueError(f"--launcher {launcher!r}: expected none, pytorch or slurm.")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    if backend == "nccl":  # without async error handling an NCCL timeout is only noticed at the next check
        os.environ.setdefault("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1")
    timeout = datetime.timedelta(minutes=timeout_minutes)
    dist.init_process_group(backend=backend, init_method="env://", timeout=timeout)
    return rank, world_size, local_rank


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_dist() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_dist() else 1


def is_main() -> bool:
    return get_rank() == 0


def barrier() -> None:
    if is_dist():
        dist.barrier()


def agree(flags: Sequence[bool], device: torch.device | str = "cpu") -> list[bool]:
    """Each flag ANDed over every rank, in one collective: a decision that every rank then takes the same way.

    The training steps decide "this loss is finite, take the step" with it before any gradient collective, so that a
    NaN on one rank makes every rank skip the same step (collectives stay paired; replicas stay identical).
    """
    if not is_dist():
        return [bool(f) for f in flags]
    t = torch.tensor([1 if f else 0 for f in flags], dtype=torch.int32, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return [bool(v) for v in t.tolist()]


def broadcast_params(module: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (start of training)."""
    if is_dist():
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)


def all_reduce_grads(params: Iterable[torch.nn.Parameter]) -> None:
    """Average gradients over ranks, in one flat buffer per dtype.

    Used instead of wrapping networks in DistributedDataParallel: it needs no find_unused_parameters (every rank runs
    the same graph, so the set of parameters with a gradient is the same everywhere), and it is safe with R1's
    double backward and with torch.compile.
    """
    if not is_dist():
        return
    world = get_world_size()
    grads = [p.grad for p in params if p.grad is not None]
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for g in grads:
        by_dtype.setdefault(g.dtype, []).append(g)
    for group in by_dtype.values():
        flat = torch.cat([g.reshape(-1) for g in group])
        dist.all_reduce(flat)
        flat /= world
        offset = 0
        for g in group:
            n = g.numel()
            g.copy_(flat[offset : offset + n].view_as(g))
            offset += n


def reduce_mean(sums: dict[str, torch.Tensor], counts: dict[str, int] | None = None) -> dict[str, float]:
    """Means over ranks of summed scalars (for logging): ``sum over ranks of sums[k] / sum of counts[k]`` (counts
    default to 1 each). One collective for the whole dict; every rank must pass the same keys. A key counted nowhere
    gives NaN."""
    if not sums:
        return {}
    keys = sorted(sums)
    stacked = torch.stack([torch.as_tensor(sums[k]).detach().float().reshape(()) for k in keys])
    n = torch.tensor([float((counts or {}).get(k, 1)) for k in keys], device=stacked.device)
    both = torch.cat([stacked, n])
    if is_dist():
        dist.all_reduce(both)
    means = both[: len(keys)] / both[len(keys) :]
    return dict(zip(keys, means.tolist()))


def check_same_across_ranks(modules: dict[str, torch.nn.Module]) -> None:
    """Raise if any module's parameters differ between ranks (a cheap float64 checksum per module).

    Called at every checkpoint: gradient averaging keeps replicas identical, and a divergence (e.g. a rank that skipped
    a step) must stop training rather than be saved silently.
    """
    if not is_dist():
        return
    sums = torch.stack(
        [torch.stack([p.detach().double().sum() for p in m.parameters()]).sum() for m in modules.values()]
    ).cpu()
    gathered = [torch.empty_like(sums) for _ in range(get_world_size())]
    dist.all_gather_object(gathered, sums)
    for rank, other in enumerate(gathered):
        if not torch.equal(other, sums):
            bad = [name for name, a, b in zip(modules, sums.tolist(), other.tolist()) if a != b]
            raise RuntimeError(f"parameters of {', '.join(bad)} differ between rank {get_rank()} and rank {rank}.")
