"""Cross-modal retrieval metrics: R@K and median rank (medr), one naming scheme for every challenge.

Each query ranks the gallery by cosine similarity (as in Kiros et al. 2014, Faghri et al. 2018,
Hodosh et al. 2013). ``R@K`` is the share of queries with a relevant item among their K nearest
gallery items (the "recall at K" of cross-modal retrieval papers, torchmetrics' ``RetrievalHitRate``);
``medr`` is the median (midpoint of the two middle values for an even count, as ``numpy.median``)
of the 1-based rank of the first relevant item. Ties rank the query pessimistically: an irrelevant
item scored exactly as the best relevant one counts as ahead of it. Similarities are computed in
float64.

Relevance: ``match="class"`` (same label: modalities paired by class, as in avdigits) or
``"instance"`` (gallery item ``i`` is the one relevant answer to query ``i``: paired data).

Keys, everywhere in mmml (records, tables, reports): ``R@1``, ``R@5``, ``R@10``, ``medr``, prefixed
with the direction by the tasks (``image2audio_R@1``, ``image2audio_medr``).

- :func:`retrieval_metrics` (functional) and :class:`RetrievalMetrics` (a ``torchmetrics.Metric``
  whose list states are concatenated across DDP ranks before ``compute``).

Examples:
    >>> q = torch.eye(3); g = torch.eye(3)
    >>> retrieval_metrics(q, g, match="instance")
    {'R@1': 1.0, 'R@5': 1.0, 'R@10': 1.0, 'medr': 1.0}
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

MATCHES = ("class", "instance")
#: the metric keys of :func:`retrieval_metrics` with its default ``ks``
RETRIEVAL_KEYS = ("R@1", "R@5", "R@10", "medr")


def first_relevant_rank(query: Tensor, gallery: Tensor, query_labels: Tensor | None = None,
                        gallery_labels: Tensor | None = None, match: str = "class") -> Tensor:
    """1-based rank, by cosine similarity, of the first relevant gallery item for each query, ``(Q,)``.

    Args:
        query: ``(Q, d)``. gallery: ``(G, d)``, the same space. query_labels, gallery_labels: ``(Q,)``,
            ``(G,)``, needed by ``match="class"``. match: ``"class"`` or ``"instance"`` (module docstring).

    Examples:
        >>> q = torch.tensor([[1.0, 0.0], [0.0, 1.0]]); g = torch.tensor([[0.0, 1.0], [1.0, 0.1]])
        >>> first_relevant_rank(q, g, torch.tensor([0, 1]), torch.tensor([0, 1])).tolist()
        [2, 2]
    """
    if match not in MATCHES:
        raise ValueError(f"match={match!r}; choose one of {list(MATCHES)}")
    if query.dim() != 2 or gallery.dim() != 2 or query.shape[1] != gallery.shape[1]:
        raise ValueError(f"query features have shape {tuple(query.shape)} and gallery features "
                         f"{tuple(gallery.shape)}; retrieval needs (Q, d) and (G, d) in one space")
    sim = F.normalize(query.double(), dim=1) @ F.normalize(gallery.double(), dim=1).T  # (Q, G)
    if match == "class":
        if query_labels is None or gallery_labels is None:
            raise ValueError("match='class' needs query_labels and gallery_labels")
        relevant = query_labels.to(sim.device)[:, None] == gallery_labels.to(sim.device)[None, :]
    else:
        if query.shape[0] != gallery.shape[0]:
            raise ValueError(f"match='instance' needs as many queries as gallery items (row i pairs with row i); "
                             f"got {query.shape[0]} and {gallery.shape[0]}")
        relevant = torch.eye(query.shape[0], dtype=torch.bool, device=sim.device)
    if not relevant.any(1).all():
        raise ValueError("some queries have no relevant gallery item (a label missing from the gallery); "
                         "evaluate on a split where every query class appears in the gallery")
    best = sim.masked_fill(~relevant, float("-inf")).amax(1)  # the best relevant score per query
    return 1 + (sim.masked_fill(relevant, float("-inf")) >= best[:, None]).sum(1)


def metrics_from_ranks(ranks: Tensor, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """``{"R@K" for K in ks, "medr"}`` from 1-based first-relevant ranks ``(Q,)``.

    Examples:
        >>> metrics_from_ranks(torch.tensor([1, 2, 4, 8]), ks=(1, 5))
        {'R@1': 0.25, 'R@5': 0.75, 'medr': 3.0}
    """
    ranks = ranks.double()
    if ranks.numel() == 0:
        raise ValueError("no query to score; retrieval metrics need at least one query")
    out = {f"R@{int(k)}": float((ranks <= int(k)).double().mean()) for k in ks}
    out["medr"] = float(ranks.quantile(0.5))
    return out


def retrieval_metrics(query: Tensor, gallery: Tensor, query_labels: Tensor | None = None,
                      gallery_labels: Tensor | None = None, match: str = "class",
                      ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """``{"R@1", "R@5", "R@10", "medr"}`` (one ``R@K`` per ``ks``) of ``query`` items against ``gallery``.

    The functional twin of :class:`RetrievalMetrics`; arguments as :func:`first_relevant_rank`.

    Examples:
        >>> q = torch.tensor([[1.0, 0.0], [0.0, 1.0]]); g = torch.tensor([[0.0, 1.0], [1.0, 0.1]])
        >>> retrieval_metrics(q, g, torch.tensor([0, 1]), torch.tensor([1, 0]), ks=(1,))
        {'R@1': 1.0, 'medr': 1.0}
    """
    return metrics_from_ranks(first_relevant_rank(query, gallery, query_labels, gallery_labels, match), ks)


class RetrievalMetrics(Metric):
    """R@K and median rank of a whole split, a ``torchmetrics.Metric`` that gathers across DDP ranks.

    ``update(query, gallery, query_labels=None, gallery_labels=None)`` keeps each batch in list states
    (``dist_reduce_fx="cat"``, as ``torchmetrics.retrieval``), so every rank's share takes part in
    ``compute()``, which ranks every query against the whole gallery (:func:`retrieval_metrics`) and
    returns ``{"R@1": tensor, ..., "medr": tensor}``. For ``match="instance"`` the i-th query pairs
    with the i-th gallery item, across batches and ranks alike.

    Args:
        ks: the K of each ``R@K``. match: ``"class"`` or ``"instance"``.

    Examples:
        >>> m = RetrievalMetrics(ks=(1, 5))
        >>> m.update(torch.eye(2), torch.eye(2), torch.tensor([0, 1]), torch.tensor([0, 1]))
        >>> m.update(torch.eye(2), torch.eye(2).flip(0), torch.tensor([0, 1]), torch.tensor([1, 0]))
        >>> {k: float(v) for k, v in m.compute().items()}
        {'R@1': 1.0, 'R@5': 1.0, 'medr': 1.0}
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, ks: Sequence[int] = (1, 5, 10), match: str = "class", **kwargs) -> None:
        super().__init__(**kwargs)
        if match not in MATCHES:
            raise ValueError(f"match={match!r}; choose one of {list(MATCHES)}")
        self.ks, self.match = tuple(int(k) for k in ks), match
        for name in ("query", "gallery", "query_labels", "gallery_labels"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, query: Tensor, gallery: Tensor, query_labels: Tensor | None = None,
               gallery_labels: Tensor | None = None) -> None:
        if self.match == "class" and (query_labels is None or gallery_labels is None):
            raise ValueError("match='class' needs query_labels and gallery_labels in update()")
        self.query.append(query.detach())
        self.gallery.append(gallery.detach())
        if self.match == "class":
            self.query_labels.append(query_labels.detach())
            self.gallery_labels.append(gallery_labels.detach())

    def compute(self) -> dict[str, Tensor]:
        if isinstance(self.query, list) and not self.query:
            raise RuntimeError("RetrievalMetrics.compute() before any update(); feed it a split first")
        labels = ((dim_zero_cat(self.query_labels), dim_zero_cat(self.gallery_labels)) if self.match == "class"
                  else (None, None))
        out = retrieval_metrics(dim_zero_cat(self.query), dim_zero_cat(self.gallery), *labels, self.match, self.ks)
        return {k: torch.tensor(v, dtype=torch.float64) for k, v in out.items()}
