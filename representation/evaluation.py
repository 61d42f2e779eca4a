"""How a representation is judged (Baltrusaitis et al. 2017, Sec. 3): probing, retrieval, arithmetic.

- :func:`linear_probe`: accuracy of a logistic regression (scikit-learn) trained on frozen features.
- retrieval: :func:`mmml.metrics.retrieval.retrieval_metrics` (R@K and median rank, shared by every challenge).
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
