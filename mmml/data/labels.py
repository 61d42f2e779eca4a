"""Scarce supervision: which training labels a run observes (``data.labelled_fraction``).

Co-learning is studied where labels or paired data are scarce (Baltrusaitis et al. 2017, Sec. 7). The
datamodule keeps a class-stratified, seeded ``fraction`` of the training labels and marks them in the
train split with ``label_present`` (the data contract's ``<m>_present`` mask, read as "the label of this
example is observed"); validation and test splits are never touched. Tasks read the mask with
:func:`observed_labels`; they never write it.

Examples:
    >>> labelled_mask(torch.tensor([0, 0, 0, 0, 1, 1]), 0.5, seed=0).tolist()
    [False, False, True, True, True, False]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

LABEL_PRESENT = "label_present"


def check_fraction(fraction: float, name: str = "data.labelled_fraction") -> float:
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


def observed_labels(batch: Mapping[str, Tensor]) -> Tensor:
    """Bool mask of the examples whose label is observed (all of them outside a hidden train split)."""
    mask = batch.get(LABEL_PRESENT)
    return torch.ones_like(batch["label"], dtype=torch.bool) if mask is None else mask.bool()
