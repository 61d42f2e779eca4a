"""Whole-split outputs under DDP: what a task collects per batch, gathered from every rank in split order.

Under DDP each rank sees a padded shard of every split (:class:`mmml.data.loader.TensorBatches`): the last
batches repeat a few examples so that every rank runs as many. Every batch carries its examples' positions
in the split (the contract's ``index``, :data:`mmml.data.contract.INDEX`); :class:`SplitOutputs` keeps them
beside each collected tensor, all-gathers both (:func:`gather_cat`) and keeps each example once, in split
order (:func:`drop_padding`), so that a whole-split metric equals the one process's.
:class:`~mmml.tasks.base.MMMLTask` collects through it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable

import torch
from torch import Tensor

from mmml.data.contract import INDEX

log = logging.getLogger(__name__)

#: Lightning's ``all_gather``: a tensor of every rank, stacked on a new first dimension
AllGather = Callable[[Tensor], Tensor]


def without_index(batch: dict[str, Tensor]) -> tuple[dict[str, Tensor], Tensor | None]:
    """``(batch without its index, the index)``: the method never sees the examples' positions.

    Examples:
        >>> without_index({"x": torch.zeros(2), "index": torch.tensor([4, 7])})
        ({'x': tensor([0., 0.])}, tensor([4, 7]))
        >>> without_index({"x": torch.zeros(1)})
        ({'x': tensor([0.])}, None)
    """
    if INDEX not in batch:
        return batch, None
    batch = dict(batch)
    return batch, batch.pop(INDEX)


def drop_padding(values: Tensor, index: Tensor) -> Tensor:
    """The rows of ``values`` (one per entry of ``index``) in split order, each example once (the first kept).

    Examples:
        >>> drop_padding(torch.tensor([12., 10., 11., 12.]), torch.tensor([2, 0, 1, 2]))  # 2 is padding, twice
        tensor([10., 11., 12.])
    """
    order = torch.argsort(index, stable=True)
    first = torch.ones(len(order), dtype=torch.bool)
    first[1:] = index[order][1:] != index[order][:-1]
    return values[order[first]]


def gather_cat(t: Tensor, all_gather: AllGather, device: torch.device | str) -> Tensor:
    """Concatenate ``t`` of every rank along dim 0, on CPU (ranks may differ in any dimension: padded, then cut).

    Integer tensors are padded with -1 (the contract's padding), others with 0; a bool tensor travels as uint8.

    Examples:
        >>> gather_cat(torch.tensor([[1, 2]]), lambda t: t, "cpu")  # one process: all_gather returns t itself
        tensor([[1, 2]])
    """
    is_bool = t.dtype == torch.bool
    x = t.to(torch.uint8) if is_bool else t
    shapes = all_gather(torch.tensor(x.shape, dtype=torch.long, device=device)).reshape(-1, x.dim())
    biggest = shapes.max(0).values.tolist()
    fill = -1 if (not x.is_floating_point() and x.dtype != torch.uint8) else 0  # -1: the contract's padding
    padded = torch.full(biggest, fill, dtype=x.dtype, device=device)
    padded[tuple(slice(0, n) for n in x.shape)] = x.to(device)
    every = all_gather(padded).reshape(len(shapes), *biggest)
    out = torch.cat([every[r][: int(shapes[r][0])] for r in range(len(shapes))]).cpu()
    return out.bool() if is_bool else out


class SplitOutputs:
    """Tensors collected from a split's batches, per condition (a test condition or ``"val"``), each beside the
    positions of its batch's examples in the split.

    Examples:
        >>> outs = SplitOutputs()
        >>> outs.add("val", torch.tensor([1, 0]), y=torch.tensor([11, 10]))
        >>> outs.add("val", torch.tensor([1]), y=torch.tensor([11]))  # a padding duplicate of example 1
        >>> outs.gathered("val")
        {'y': tensor([10, 11])}
        >>> outs.reset("val"); outs.gathered("val")
        {}
    """

    def __init__(self) -> None:
        self._store: dict[str, dict[str, list[Tensor]]] = {}
        self._where: dict[str, dict[str, list[Tensor | None]]] = {}

    def add(self, condition: str, index: Tensor | None, **tensors: Tensor) -> None:
        """Keep ``tensors`` of one batch (detached, on CPU) with the batch's ``index`` (``None``: it has none)."""
        store = self._store.setdefault(condition, defaultdict(list))
        where = self._where.setdefault(condition, defaultdict(list))
        index = index.detach().cpu() if index is not None else None
        for k, v in tensors.items():
            store[k].append(v.detach().cpu())
            where[k].append(index)

    def reset(self, condition: str) -> None:
        """Forget what was collected for ``condition``."""
        self._store.pop(condition, None)
        self._where.pop(condition, None)

    def gathered(self, condition: str, all_gather: AllGather | None = None, device: torch.device | str | None = None,
                 owner: str = "task") -> dict[str, Tensor]:
        """What :meth:`add` kept for ``condition``, from every rank (``all_gather`` given: under DDP, gathered on
        ``device``), padding dropped, in split order.

        A tensor with one row per example of each batch is put in split order and freed of padding duplicates;
        any other (a per-batch timing, say) is concatenated as it came. ``owner`` names the task in the warning
        given when batches carry no index under DDP.
        """
        store, where = self._store.get(condition, {}), self._where.get(condition, {})
        out: dict[str, Tensor] = {}
        for k, chunks in store.items():
            idx = where[k]
            per_example = all(i is not None and v.dim() > 0 and len(v) == len(i) for v, i in zip(chunks, idx,
                                                                                                  strict=True))
            local = torch.cat(chunks)
            index = torch.cat(idx) if per_example else None
            if all_gather is not None:
                per_example = bool(all_gather(torch.tensor(int(per_example), device=device)).min())
                local = gather_cat(local, all_gather, device)
                index = gather_cat(index, all_gather, device) if per_example else None
                if not per_example and k == next(iter(store)):
                    log.warning("%s: batches carry no %r, so DDP padding duplicates cannot be dropped from %r",
                                owner, INDEX, k)
            out[k] = drop_padding(local, index) if index is not None else local
        return out
