"""The batch contract: a batch is a ``dict[str, Tensor]`` (DESIGN.md, "The data contract").

Keys: one per modality, ``"label"``, ``"<m>_lengths"`` for sequences and tokens,
``"<m>_boundaries"`` for alignment data, and ``"<m>_present"`` (bool, per example) when a modality
was dropped at test time. A dropped modality is absent from the dict and marked present=False, so
that a model can tell "dropped on purpose" (handle it) from "never provided" (an error).

The loaders (:class:`mmml.data.loader.TensorBatches`) add ``"index"``, each example's position in its
split (what puts outputs gathered from DDP ranks back in order); it is no modality, and
:class:`mmml.tasks.MMMLTask` takes it off before a method sees the batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor

SUFFIXES = ("_lengths", "_boundaries", "_present")
#: the key of each example's position in its split (added by the loaders; not a modality)
INDEX = "index"


def modalities_of(batch: Mapping[str, Tensor]) -> list[str]:
    """Names of the modalities in a batch: keys that are neither ``label`` nor a suffixed companion."""
    names = set()
    for key in batch:
        if key in ("label", INDEX):
            continue
        for suffix in SUFFIXES:
            if key.endswith(suffix):
                key = key[: -len(suffix)]
                break
        names.add(key)
    return sorted(names)


def batch_size(batch: Mapping[str, Tensor]) -> int:
    """The common first dimension of every tensor in the batch; raises if they disagree."""
    sizes = {k: int(v.shape[0]) for k, v in batch.items() if isinstance(v, Tensor) and v.dim() > 0}
    if not sizes:
        raise ValueError("batch holds no tensors; expected a dict of tensors with a batch dimension")
    if len(set(sizes.values())) > 1:
        raise ValueError(
            f"modalities have different batch sizes {sizes}; every tensor in a batch must share its "
            "first dimension (check the datamodule's splits or the collate function)"
        )
    return next(iter(sizes.values()))


def is_present(batch: Mapping[str, Tensor], modality: str) -> bool:
    """Whether ``modality`` is in the batch; ``False`` if it was dropped on purpose.

    Raises ``KeyError`` with the fix when the modality was never provided.
    """
    if modality in batch:
        return True
    if f"{modality}_present" in batch:
        return False
    raise KeyError(
        f"batch has modalities {modalities_of(batch)} but the model needs {modality!r}; "
        f"drop {modality!r} from the model's modalities or add it to data.modalities"
    )


def present_mask(batch: Mapping[str, Tensor], modality: str) -> Tensor:
    """Per-example bool mask of whether ``modality`` is observed (all True unless dropped)."""
    key = f"{modality}_present"
    if key in batch:
        return batch[key].bool()
    if not is_present(batch, modality):  # pragma: no cover - is_present raises or returns True here
        raise AssertionError
    return torch.ones(batch_size(batch), dtype=torch.bool, device=batch[modality].device)


def require(batch: Mapping[str, Tensor], modalities: Iterable[str], allow_dropped: bool = True) -> None:
    """Check a batch carries every modality a model needs, with one batch size.

    Args:
        batch: the batch dict.
        modalities: modality names the model needs.
        allow_dropped: accept modalities that were dropped on purpose (``<m>_present`` False).
    """
    batch_size(batch)
    missing = []
    for m in modalities:
        if m in batch:
            continue
        if allow_dropped and f"{m}_present" in batch:
            continue
        missing.append(m)
    if missing:
        raise KeyError(
            f"batch has modalities {modalities_of(batch)} but the model needs {sorted(modalities)}; "
            f"drop the model's {missing} or add them to data.modalities"
        )


def check_finite(tensors: Mapping[str, Tensor], where: str) -> None:
    """Raise naming the modality and split when a float tensor holds NaN or Inf."""
    for name, t in tensors.items():
        if isinstance(t, Tensor) and t.is_floating_point():
            bad = (~torch.isfinite(t)).sum().item()
            if bad:
                raise ValueError(
                    f"{where}: modality {name!r} holds {bad} NaN/Inf values; clean or impute the "
                    "features (e.g. torch.nan_to_num) before building the datamodule"
                )
