"""Scarce supervision for co-learning: which training pairs a run may see, and views for scikit-learn learners.

Co-learning is studied where labels or paired data are scarce (Baltrusaitis et al. 2017, Sec. 7). Which
training labels a run observes is the datamodule's business (``data.labelled_fraction``,
:mod:`mmml.data.labels`, re-exported here): it marks the kept share of the train split with
``label_present``. Pairs are dealt out of that share by :func:`disjoint_pairs`, and hidden through
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

from mmml.data.labels import LABEL_PRESENT, check_fraction, labelled_mask, observed_labels
from mmml.data.sequences import pooled_views as core_pooled_views

__all__ = ["LABEL_PRESENT", "check_fraction", "disjoint_pairs", "labelled_mask", "observed_labels", "pooled_views"]


def disjoint_pairs(split: dict[str, Tensor], groups: Sequence[Sequence[str]], seed: int) -> None:
    """Give each group of modalities its own disjoint, class-stratified share of a train split.

    The examples whose label is kept (``label_present``, set by the datamodule from
    ``data.labelled_fraction``; all of them without it) are dealt round-robin (per class, in a seeded
    order) to the groups; in each example, the modalities outside its group are marked absent through
    ``<modality>_present``, so that no example pairs modalities of two different groups. With
    ``groups=[["image", "audio"], ["audio", "text"]]`` image and text never co-occur.
    """
    y = split["label"].detach().cpu().numpy()
    rng = np.random.default_rng(seed + 1)
    group = np.full(len(y), -1)
    kept = observed_labels(split).cpu().numpy()
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
    """One float64 ``(n, d)`` array per modality for scikit-learn learners: the core's
    :func:`mmml.data.sequences.pooled_views`, its statistics computed in float32 as co-learning's always were.

    Images and vectors are flattened; sequences (``(n, T, F)`` with ``<m>_lengths``) become the mean
    and standard deviation of their valid frames, ``(n, 2F)``. A dropped modality gives ``None``.
    """
    return core_pooled_views(batch, modalities, dtype=torch.float32)
