"""Epoch-seeded distributed sampler that yields ``(index, epoch)`` so every sample's randomness is a pure function of
``(seed, epoch, index)`` (see ``FFHQDegradationDataset``): the same batches whatever ``num_workers`` is, and an
exact mid-epoch resume.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["EnlargedSampler", "permutation_seed", "sample_rng_seed"]


def sample_rng_seed(seed: int, epoch: int, index: int) -> list[int]:
    """Entropy for ``np.random.default_rng`` of one sample (a list, hashed by numpy's SeedSequence)."""
    return [int(seed), int(epoch), int(index)]


def permutation_seed(seed: int, epoch: int) -> int:
    """Seed of an epoch's permutation: the epoch itself for ``seed=0`` (BasicSR), else a SeedSequence hash of
    ``(seed, epoch)`` (torch's CPU generator keeps only 32 bits of a seed, so ``seed * 2**32 + epoch`` would not do)."""
    if seed == 0:
        return int(epoch)
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1, np.uint32)[0])


class EnlargedSampler(Sampler):
    """BasicSR's ``EnlargedSampler`` partition, yielding ``(index, epoch)`` tuples.

    Each epoch draws a permutation of ``ceil(size * ratio / num_replicas) * num_replicas`` positions with a
    ``torch.Generator`` seeded by ``permutation_seed(seed, epoch)`` (``seed=0`` reproduces BasicSR, which seeds by
    the epoch only),
    maps positions to indices modulo ``dataset_size`` and gives rank ``r`` every ``num_replicas``-th position from
    ``r``. Without shuffling the positions are in order.

    Args:
        dataset_size: number of samples in the dataset.
        num_replicas: world size.
        rank: this process's rank.
        ratio: dataset enlarge ratio (``dataset_enlarge_ratio``), to make epochs longer than the dataset.
        seed: run seed.
        shuffle: permute each epoch (training) or not.
    """

    def __init__(
        self,
        dataset_size: int,
        num_replicas: int = 1,
        rank: int = 0,
        ratio: int = 1,
        seed: int = 0,
        shuffle: bool = True,
    ) -> None:
        if dataset_size <= 0:
            raise ValueError(f"EnlargedSampler: the dataset is empty (dataset_size={dataset_size})")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"EnlargedSampler: rank {rank} is not in [0, {num_replicas})")
        self.dataset_size = dataset_size
        self.num_replicas = num_replicas
        self.rank = rank
        self.ratio = ratio
        self.seed = seed
        self.shuffle = shuffle
        self.num_samples = math.ceil(dataset_size * ratio / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch; ``start`` = number of this rank's samples of that epoch already consumed (resume)."""
        if not 0 <= start <= self.num_samples:
            raise ValueError(f"EnlargedSampler.set_epoch: start {start} is not in [0, {self.num_samples}]")
        self.epoch = epoch
        self.start = start

    def indices(self, epoch: int) -> list[int]:
        """This rank's dataset indices for ``epoch`` (the full epoch, ignoring ``start``)."""
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(permutation_seed(self.seed, epoch))
            positions = torch.randperm(self.total_size, generator=g).tolist()
        else:
            positions = list(range(self.total_size))
        return [p % self.dataset_size for p in positions[self.rank : self.total_size : self.num_replicas]]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        for index in self.indices(epoch)[self.start :]:
            yield (index, epoch)

    def __len__(self) -> int:
        return self.num_samples
