"""Scarce supervision for co-learning: which training labels (or pairs) a run may see.

Co-learning is studied where labels or paired data are scarce (Baltrusaitis et al. 2017, Sec. 7).
A run keeps a class-stratified, seeded ``fraction`` of the training labels; the others are hidden by
marking them in the train split with ``label_present`` (the data contract's ``<m>_present`` mask,
read as "the label of this example is observed"). Pairs are hidden the same way, through
``<modality>_present``. Validation and test splits are never touched.

Examples:
    >>> labelled_mask(torch.tensor([0, 0, 0, 0, 1, 1]), 0.5, seed=0).tolist()
    [False, False, True, True, True, False]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

LABEL_PRESENT = "label_present"


def check_fraction(fraction: float, name: str = "model.task.labelled_fraction") -> float:
    """Return ``fraction`` as a float in (0, 1], or raise naming the config key."""
    fraction = float(fraction)
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"{name}={fraction}; use a fraction in (0, 1], e.g. 0.05 for 5% of the training "
                         "labels")
    return fraction


def labelled_mask(labels: Tensor, fraction: float, seed: int) -> Tensor:
    """Per-example bool mask keeping ``fraction`` of each class (at least one example per class).

    Args:
        labels: ``(n,)`` integer class labels of the train split.
        fraction: share of each class to keep, in (0, 1].
        seed: seed of the draw (a run's seed, so each seed sees different labels).

    Returns:
        ``(n,)`` bool tensor on ``labels``' device.
    """
    fraction = check_fraction(fraction)
    y = labels.detach().cpu().numpy()
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        n = min(len(members), max(1, int(round(fraction * len(members)))))
        keep[rng.choice(members, size=n, replace=False)] = True
    return torch.from_numpy(keep).to(labels.device)


def hide_labels(split: dict[str, Tensor], fraction: float, seed: int) -> Tensor:
    """Mark the labels a run may use in a train split (``split["label_present"]``); returns the mask."""
    mask = labelled_mask(split["label"], fraction, seed)
    split[LABEL_PRESENT] = mask
    return mask


def observed_labels(batch: Mapping[str, Tensor]) -> Tensor:
    """Bool mask of the examples whose label is observed (all of them outside a hidden train split)."""
    mask = batch.get(LABEL_PRESENT)
    return torch.ones_like(batch["label"], dtype=torch.bool) if mask is None else mask.bool()


def disjoint_pairs(split: dict[str, Tensor], groups: Sequence[Sequence[str]], fraction: float,
                   seed: int) -> None:
    """Give each group of modalities its own disjoint, class-stratified share of a train split.

    The kept ``fraction`` of the examples is dealt round-robin (per class, in a seeded order) to the
    groups; in each example, the modalities outside its group are marked absent through
    ``<modality>_present``, so that no example pairs modalities of two different groups. With
    ``groups=[["image", "audio"], ["audio", "text"]]`` image and text never co-occur.
    """
    keep = labelled_mask(split["label"], check_fraction(fraction, "model.task.pair_fraction"), seed)
    y = split["label"].detach().cpu().numpy()
    rng = np.random.default_rng(seed + 1)
    group = np.full(len(y), -1)
    kept = keep.cpu().numpy()
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero((y == c) & kept))
        group[members] = np.arange(len(members)) % len(groups)
    device = split["label"].device
    for m in sorted({m for g in groups for m in g}):
        if m not in split:
            raise KeyError(f"pair group names {m!r}, which the data set does not serve ({sorted(split)}); "
                           "add it to data.modalities")
        present = np.isin(group, [i for i, g in enumerate(groups) if m in g])
        split[f"{m}_present"] = torch.from_numpy(present).to(device)


def pooled_views(batch: Mapping[str, Tensor], modalities: Sequence[str]) -> list[np.ndarray | None]:
    """One float64 ``(n, d)`` array per modality for scikit-learn learners.

    Images and vectors are flattened; sequences (``(n, T, F)`` with ``<m>_lengths``) become the mean
    and standard deviation of their valid frames, ``(n, 2F)``. A dropped modality gives ``None``.
    """
    out: list[np.ndarray | None] = []
    for m in modalities:
        if m not in batch:
            out.append(None)
            continue
        x = batch[m].detach().float()
        lengths = batch.get(f"{m}_lengths")
        if lengths is not None and x.dim() == 3:
            steps = torch.arange(x.shape[1], device=x.device)
            valid = (steps[None, :] < lengths[:, None]).to(x.dtype)[..., None]
            n = valid.sum(1).clamp_min(1.0)
            mean = (x * valid).sum(1) / n
            std = (((x - mean[:, None]) ** 2 * valid).sum(1) / n).sqrt()
            x = torch.cat([mean, std], dim=1)
        out.append(x.flatten(1).cpu().double().numpy())
    return out
