"""Batches by index slicing over tensors that already sit on the training device.

For this toolkit's small data sets a ``DataLoader`` over CPU tensors starves a GPU; slicing
device-resident tensors serves whole batches in one indexing op (see ``shared/gpu/README.md``:
~9x the samples/s at batch 1024 on an H100).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from mmml.data.contract import INDEX

Batch = dict[str, Tensor]


class TensorBatches:
    """An iterable of batch dicts sliced from a dict of equally long tensors.

    Args:
        tensors: the split, every tensor with the same first dimension.
        batch_size: examples per batch (the last batch may be smaller unless ``drop_last``).
        shuffle: draw a new permutation each epoch from ``seed`` and the epoch number, so a resumed
            run sees the same order as an uninterrupted one.
        seed: base seed of the permutation.
        epoch: callable giving the current epoch (the trainer's), for the permutation.
        transform: ``transform(batch, position)`` applied to each batch (test-time corruptions).
        rank, world_size: shard for distributed runs (every rank gets ``ceil(n / world_size)``, the
            first examples repeated as padding, as ``torch.utils.data.DistributedSampler`` does).

    Every batch also holds ``"index"`` (:data:`mmml.data.contract.INDEX`), its examples' positions in the
    split, added after ``transform``, so that outputs gathered from every rank can be put back in split
    order and freed of the padding duplicates (:meth:`mmml.tasks.MMMLTask._gathered`).

    Examples:
        >>> batches = TensorBatches({"x": torch.arange(5), "label": torch.zeros(5)}, batch_size=2)
        >>> [b["x"].tolist() for b in batches]
        [[0, 1], [2, 3], [4]]
        >>> [b["index"].tolist() for b in TensorBatches({"x": torch.arange(5)}, 2, rank=1, world_size=2)]
        [[1, 3], [0]]
    """

    def __init__(
        self,
        tensors: Batch,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        epoch: Callable[[], int] | None = None,
        transform: Callable[[Batch, int], Batch] | None = None,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size={batch_size}; use a positive number (data.batch_size)")
        self.tensors = tensors
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = epoch or (lambda: 0)
        self.transform = transform
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        if INDEX in tensors:
            raise ValueError(f"the split holds a tensor named {INDEX!r}, the key the loader gives each example's "
                             "position; rename that modality")
        self.n = len(next(iter(tensors.values())))

    def _indices(self) -> Tensor:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + int(self.epoch()))
            idx = torch.randperm(self.n, generator=g)
        else:
            idx = torch.arange(self.n)
        if self.world_size > 1:
            pad = (-self.n) % self.world_size
            idx = torch.cat([idx, idx[:pad]])[self.rank :: self.world_size]
        return idx

    def __len__(self) -> int:
        n = len(self._indices()) if self.world_size > 1 else self.n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        idx = self._indices()
        device = next(iter(self.tensors.values())).device
        idx = idx.to(device)
        stop = len(idx) - (len(idx) % self.batch_size if self.drop_last else 0)
        for position, start in enumerate(range(0, stop, self.batch_size)):
            sel = idx[start : start + self.batch_size]
            batch = {k: v.index_select(0, sel) for k, v in self.tensors.items()}
            if self.transform is not None:
                batch = self.transform(batch, position)
            batch[INDEX] = sel
            yield batch
