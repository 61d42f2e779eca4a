"""How a representation is judged (Baltrusaitis et al. 2017, Sec. 3): probing, retrieval, arithmetic.

- :func:`linear_probe`: accuracy of a logistic regression (scikit-learn) trained on frozen features.
- :func:`retrieval_metrics`: cross-modal retrieval, R@K (a relevant item among the top K) and the
  median rank of the first relevant item, by cosine similarity (as Kiros et al. 2014, Faghri et al. 2018).
- :func:`arithmetic_accuracy`: multimodal embedding arithmetic (Kiros et al. 2014, Sec. 4.3):
  ``x(a) - y(a) + y(b)``, how often its nearest ``x`` has the class of ``b``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import Tensor

MATCHES = ("class", "instance")


def linear_probe(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, C: float = 1.0,
                 max_iter: int = 500) -> tuple[float, object]:
    """Accuracy on ``test`` of a standardised logistic regression fitted on ``train`` features.

    Returns ``(accuracy, fitted pipeline)``; the pipeline can score other features of the same space.
    """
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    probe.fit(_np(train_x), _np(train_y))
    return probe_accuracy(probe, test_x, test_y), probe


def probe_accuracy(probe: object, x: Tensor, y: Tensor) -> float:
    """Accuracy of a fitted probe on features ``x`` with labels ``y``."""
    return float((probe.predict(_np(x)) == _np(y)).mean())


def _np(t: Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy() if t.is_floating_point() else t.detach().cpu().numpy()


def first_relevant_rank(query: Tensor, gallery: Tensor, query_labels: Tensor | None = None,
                        gallery_labels: Tensor | None = None, match: str = "class") -> Tensor:
    """1-based rank, by cosine similarity, of the first relevant gallery item for each query, ``(Q,)``.

    ``match="class"``: relevant = same label (modalities paired by label, as avdigits); ``"instance"``:
    relevant = the gallery item with the query's index (paired data). Ties rank the query pessimistically.
    """
    if match not in MATCHES:
        raise ValueError(f"match={match!r}; choose one of {list(MATCHES)}")
    if query.shape[1] != gallery.shape[1]:
        raise ValueError(f"query features have size {query.shape[1]} and gallery features "
                         f"{gallery.shape[1]}; retrieval needs one space for both")
    sim = F.normalize(query.double(), dim=1) @ F.normalize(gallery.double(), dim=1).T  # (Q, G)
    if match == "class":
        if query_labels is None or gallery_labels is None:
            raise ValueError("match='class' needs query_labels and gallery_labels")
        relevant = query_labels[:, None] == gallery_labels[None, :]
    else:
        if query.shape[0] != gallery.shape[0]:
            raise ValueError("match='instance' needs as many queries as gallery items "
                             "(row i pairs with row i)")
        relevant = torch.eye(query.shape[0], dtype=torch.bool, device=query.device)
    if not relevant.any(1).all():
        raise ValueError("some queries have no relevant gallery item; check the labels of both sides")
    best = sim.masked_fill(~relevant, float("-inf")).amax(1)  # the best relevant score per query
    return 1 + (sim.masked_fill(relevant, float("-inf")) >= best[:, None]).sum(1)


def retrieval_metrics(query: Tensor, gallery: Tensor, query_labels: Tensor | None = None,
                      gallery_labels: Tensor | None = None, match: str = "class",
                      ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """``{"r1", "r5", "r10", "medr"}``: recall at K and median rank of the first relevant item.

    Examples:
        >>> q = torch.eye(3); g = torch.eye(3)
        >>> retrieval_metrics(q, g, match="instance")["r1"]
        1.0
    """
    ranks = first_relevant_rank(query, gallery, query_labels, gallery_labels, match).double()
    out = {f"r{k}": float((ranks <= k).double().mean()) for k in ks}
    out["medr"] = float(ranks.quantile(0.5))
    return out


def arithmetic_accuracy(x: Tensor, y: Tensor, labels: Tensor, seed: int = 0) -> float:
    """Multimodal embedding arithmetic (Kiros, Salakhutdinov & Zemel 2014, Sec. 4.3).

    For each example ``i`` (class ``a``) a partner ``j`` of another class ``b`` is drawn (seeded);
    the query ``x_i - y_i + y_j`` (unit vectors) should land nearest, among the other ``x``, to an
    example of class ``b``. Returns that rate (chance: about ``1 / num_classes``).

    Args:
        x, y: ``(N, d)`` embeddings of two modalities of the same examples, one space. labels: ``(N,)``.
    """
    if x.shape != y.shape:
        raise ValueError(f"arithmetic needs two embeddings of one space and size; got {tuple(x.shape)}, "
                         f"{tuple(y.shape)}")
    if labels.unique().numel() < 2:
        raise ValueError("arithmetic needs at least two classes")
    x, y = F.normalize(x.double(), dim=1), F.normalize(y.double(), dim=1)
    g = torch.Generator().manual_seed(seed)
    labels = labels.cpu()
    n = len(labels)
    partner = torch.empty(n, dtype=torch.long)
    for i in range(n):
        others = torch.nonzero(labels != labels[i]).flatten()
        partner[i] = others[torch.randint(len(others), (1,), generator=g)]
    query = x - y + y[partner]
    sim = F.normalize(query, dim=1) @ x.T
    sim.fill_diagonal_(float("-inf"))  # the source example itself is not an answer
    nearest = sim.argmax(1).cpu()
    return float((labels[nearest] == labels[partner]).double().mean())
