"""The minimal coordinated-space pieces co-learning needs: a symmetric InfoNCE loss and retrieval recall.

Written here because ``representation`` (which owns coordinated models: CCA, deep CCA, CLIP, VSE)
had no public contrastive loss when co-learning was built; swap these for its public names once it has.

- :func:`info_nce`: symmetric InfoNCE over the pairs of a batch with a fixed temperature
  (van den Oord et al. 2018; Radford et al. 2021 average both directions).
- :func:`retrieval_metrics`: R@K (a query is a hit when one of its K nearest gallery items is relevant,
  the recall@K of cross-modal retrieval papers) and the median rank of the first relevant item,
  with relevance given by labels (checked against ``torchmetrics.retrieval.RetrievalHitRate``).

Examples:
    >>> a = torch.eye(4)
    >>> float(info_nce(a, a, temperature=0.01)) < 1e-6
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def info_nce(a: Tensor, b: Tensor, temperature: float = 0.1) -> Tensor:
    """Symmetric InfoNCE between row-paired embeddings ``a`` and ``b`` (each ``(B, d)``, normalised here)."""
    if a.shape != b.shape:
        raise ValueError(f"paired embeddings have shapes {tuple(a.shape)} and {tuple(b.shape)}; they must "
                         "match")
    if temperature <= 0:
        raise ValueError(f"temperature={temperature}; use a positive number such as 0.1")
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / temperature
    target = torch.arange(len(a), device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def retrieval_metrics(queries: Tensor, gallery: Tensor, query_labels: Tensor, gallery_labels: Tensor,
                      ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """R@K and median rank of ``queries`` (``(Q, d)``) against ``gallery`` (``(N, d)``), by cosine similarity.

    A gallery item is relevant to a query when their labels are equal (for data paired by class,
    such as avdigits, the class is the only thing a pair shares). Returns ``{"R@1": .., "R@5": ..,
    "medr": ..}`` with ranks counted from 1.
    """
    sim = F.normalize(queries.float(), dim=-1) @ F.normalize(gallery.float(), dim=-1).T
    relevant = query_labels[:, None] == gallery_labels[None, :]
    if not relevant.any(1).all():
        raise ValueError("some queries have no relevant gallery item (a label missing from the gallery); "
                         "evaluate on a split where every query class appears in the gallery")
    order = sim.argsort(dim=1, descending=True, stable=True)
    first = relevant.gather(1, order).float().argmax(1) + 1  # rank of the first relevant item
    out = {f"R@{k}": float((first <= int(k)).float().mean()) for k in ks}
    out["medr"] = float(first.float().median())
    return out
